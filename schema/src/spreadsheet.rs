//! CSV that opens cleanly in a spreadsheet, Chinese Excel above all.
//!
//! Excel reads a CSV without a byte-order mark in the machine's ANSI code page (GBK on a Chinese
//! Windows), which garbles UTF-8 Chinese; with the mark it reads UTF-8. And a spreadsheet runs a
//! cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before them) as a
//! formula: record text comes from 34 platforms' operators, so every text cell is neutralised by
//! OWASP's rule (a leading apostrophe) before it is written. Numbers are written by the caller and
//! never pass through here.

use std::borrow::Cow;

/// The UTF-8 byte-order mark every CSV file of the project starts with.
pub const UTF8_BOM: &str = "\u{feff}";

/// The characters that make a spreadsheet treat a cell as a formula when they lead it.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` made inert: prefixed with `'` when it starts like a formula, else unchanged.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Appends one RFC 4180 text field: neutralised, quoted when it holds a separator, quote or
/// line break.
pub fn push_text_field(out: &mut String, text: &str) {
    let text = neutralise(text);
    if text.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_plain_text_is_not() {
        for formula in ["=HYPERLINK(\"x\")", "@SUM(A1)", "+1", "-2", "\tx", "\r=1"] {
            assert!(neutralise(formula).starts_with('\''), "{formula:?}");
        }
        assert_eq!(neutralise("透射电子显微镜"), "透射电子显微镜");
        assert_eq!(neutralise("a=b"), "a=b");
    }

    #[test]
    fn fields_are_quoted_after_neutralising() {
        let mut out = String::new();
        push_text_field(&mut out, "=1,2");
        out.push(',');
        push_text_field(&mut out, "大学 \"甲\"");
        assert_eq!(out, "\"'=1,2\",\"大学 \"\"甲\"\"\"");
    }
}
