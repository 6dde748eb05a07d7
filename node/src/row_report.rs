//! How an import's rejected rows are reported: one line per problem naming the row, the column
//! as the file spells it and the field in Chinese and English; on the terminal at most
//! [`PER_ROW`] problems per row and [`ON_SCREEN`] in all, then "… and N more"; in the report
//! files (`.txt`, and `.csv` for a spreadsheet: UTF-8 with a byte-order mark, formula cells
//! neutralised) at most [`IN_REPORT`], then the count of the rest.

use crate::import::{RowError, field_label};
use std::collections::HashMap;
use std::fmt::Write;
use yiqi_schema::spreadsheet::{UTF8_BOM, push_text_field};

/// Problems shown per row on the terminal.
pub const PER_ROW: usize = 5;
/// Problems shown per file on the terminal.
pub const ON_SCREEN: usize = 50;
/// Problems listed in a report file.
pub const IN_REPORT: usize = 10_000;

/// `row 5 第 5 行 (GS-1) · column 列「建账日期（例：2016-01-01）」 · field 字段 启用日期 Commissioned
/// on (/commissioned_on): MESSAGE`; the column and field parts only when known.
pub fn error_line(error: &RowError) -> String {
    let mut line = format!("row {0} 第 {0} 行", error.row);
    if let Some(id) = &error.local_id {
        let _ = write!(line, " ({id})");
    }
    if let Some(column) = &error.column {
        let _ = write!(line, " · column 列「{column}」");
    }
    match field_label(&error.pointer) {
        Some((zh, en)) => {
            let _ = write!(line, " · field 字段 {zh} {en} ({})", error.pointer);
        }
        None if error.pointer.is_empty() => line.push_str(" · the whole row 整行"),
        None => {
            let _ = write!(line, " · field 字段 {}", error.pointer);
        }
    }
    let _ = write!(line, ": {}", error.message);
    line
}

/// The lines for the terminal: at most [`PER_ROW`] per row and [`ON_SCREEN`] in all, then one
/// line counting the rest.
pub fn terminal_lines(errors: &[RowError]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut shown_of_row: HashMap<usize, usize> = HashMap::new();
    let mut hidden = 0;
    for error in errors {
        let shown = shown_of_row.entry(error.row).or_default();
        if *shown >= PER_ROW || lines.len() >= ON_SCREEN {
            hidden += 1;
            continue;
        }
        *shown += 1;
        lines.push(error_line(error));
    }
    if hidden > 0 {
        lines.push(format!(
            "… and {hidden} more problems (还有 {hidden} 个问题), all listed in the report"
        ));
    }
    lines
}

/// The text report: `heading`, then one line per problem up to [`IN_REPORT`], then the count of
/// the rest.
pub fn text(heading: &str, errors: &[RowError]) -> String {
    let mut out = format!("{heading}\n");
    for error in errors.iter().take(IN_REPORT) {
        out.push_str(&error_line(error));
        out.push('\n');
    }
    if let Some(rest) = errors.len().checked_sub(IN_REPORT).filter(|&n| n > 0) {
        let _ = writeln!(out, "… and {rest} more problems (还有 {rest} 个问题)");
    }
    out
}

/// The CSV report: a byte-order mark, a header of labels, one record per problem up to
/// [`IN_REPORT`], then a last record counting the rest.
pub fn csv(errors: &[RowError]) -> String {
    let mut out = String::from(UTF8_BOM);
    out.push_str(
        "行 Row,仪器编号 Local ID,列 Column,字段 Field,Field,JSON Pointer,问题 Problem\r\n",
    );
    for error in errors.iter().take(IN_REPORT) {
        let (zh, en) = field_label(&error.pointer).unwrap_or(("", ""));
        let _ = write!(out, "{},", error.row);
        let cells = [
            error.local_id.as_deref().unwrap_or(""),
            error.column.as_deref().unwrap_or(""),
            zh,
            en,
            &error.pointer,
            &error.message,
        ];
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_text_field(&mut out, cell);
        }
        out.push_str("\r\n");
    }
    if let Some(rest) = errors.len().checked_sub(IN_REPORT).filter(|&n| n > 0) {
        let _ = write!(
            out,
            ",,,,,,… and {rest} more problems (还有 {rest} 个问题)\r\n"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(row: usize, pointer: &str, column: Option<&str>, message: &str) -> RowError {
        RowError {
            row,
            local_id: Some(format!("GS-{row}")),
            pointer: pointer.into(),
            message: message.into(),
            column: column.map(str::to_owned),
        }
    }

    #[test]
    fn a_line_names_row_column_and_field_in_both_languages() {
        let line = error_line(&error(
            5,
            "/commissioned_on",
            Some("建账日期（例：2016-01-01）"),
            "2019-02-30 is not a date",
        ));
        assert_eq!(
            line,
            "row 5 第 5 行 (GS-5) · column 列「建账日期（例：2016-01-01）」 · field 字段 启用日期 \
             Commissioned on (/commissioned_on): 2019-02-30 is not a date"
        );
        let item = error_line(&error(6, "/subjects/2", None, "too long"));
        assert!(
            item.contains("field 字段 主要学科领域 Subjects (/subjects/2)"),
            "{item}"
        );
        assert!(error_line(&error(7, "", None, "not an object")).contains("the whole row 整行"));
    }

    #[test]
    fn the_terminal_shows_a_bounded_number_and_counts_the_rest() {
        let mut errors: Vec<RowError> = (0..8).map(|_| error(2, "/name", None, "x")).collect();
        errors.extend((3..200).map(|row| error(row, "/name", None, "x")));
        let lines = terminal_lines(&errors);
        assert_eq!(lines.len(), ON_SCREEN + 1);
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("row 2 ")).count(),
            PER_ROW
        );
        let hidden = errors.len() - ON_SCREEN;
        assert_eq!(
            lines.last().unwrap(),
            &format!(
                "… and {hidden} more problems (还有 {hidden} 个问题), all listed in the report"
            )
        );
    }

    #[test]
    fn the_csv_report_has_a_bom_labels_inert_cells_and_a_final_count() {
        let mut errors = vec![error(4, "/name", Some("仪器设备名称"), "=HYPERLINK(\"x\")")];
        errors.extend((0..IN_REPORT).map(|i| error(5 + i, "/model", None, "x")));
        let csv = csv(&errors);
        assert!(csv.starts_with("\u{feff}行 Row,仪器编号 Local ID,列 Column,"));
        let mut lines = csv.lines();
        assert_eq!(
            lines.nth(1).unwrap(),
            "4,GS-4,仪器设备名称,仪器名称,Name,/name,\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(csv.lines().count(), 1 + IN_REPORT + 1);
        assert!(csv.ends_with(",,,,,,… and 1 more problems (还有 1 个问题)\r\n"));
        assert!(text("h", &errors).ends_with("… and 1 more problems (还有 1 个问题)\n"));
    }
}
