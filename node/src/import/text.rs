//! Turning a file's bytes into text: the `--encoding` choice and its automatic detection.
//!
//! Chinese spreadsheet software saves CSV in GB18030 (or its subset GBK) unless told otherwise,
//! while everything else uses UTF-8; the two are told apart reliably because GB18030 text is
//! almost never valid UTF-8. Windows-1252 decodes every byte sequence, so it cannot be detected
//! and is used only when asked for. A byte that does not decode stops the import: replacing it
//! with U+FFFD would silently change the catalogue.

use super::ImportError;
use encoding_rs::{DecoderResult, GB18030, WINDOWS_1252};
use std::fmt;
use std::str::FromStr;

/// The character encoding of a text catalogue (CSV, JSON, NDJSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 (with or without a byte-order mark) when the bytes are valid UTF-8, else GB18030.
    #[default]
    Auto,
    Utf8,
    Gb18030,
    Windows1252,
}

impl FromStr for Encoding {
    type Err = ImportError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "auto" => Ok(Encoding::Auto),
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "gb18030" => Ok(Encoding::Gb18030),
            "windows-1252" | "cp1252" => Ok(Encoding::Windows1252),
            _ => Err(ImportError::InvalidOption(format!(
                "unknown encoding {name:?}: use auto, utf-8, gb18030 or windows-1252"
            ))),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Auto => "auto",
            Encoding::Utf8 => "utf-8",
            Encoding::Gb18030 => "gb18030",
            Encoding::Windows1252 => "windows-1252",
        })
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes `bytes` as `encoding`, dropping a UTF-8 byte-order mark.
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<String, ImportError> {
    match encoding {
        Encoding::Auto => decode_detected(bytes),
        Encoding::Utf8 => decode_utf8(bytes),
        Encoding::Gb18030 => decode_strictly(bytes, GB18030, Encoding::Gb18030),
        Encoding::Windows1252 => decode_strictly(bytes, WINDOWS_1252, Encoding::Windows1252),
    }
}

fn decode_detected(bytes: &[u8]) -> Result<String, ImportError> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ImportError::Undecodable {
            line: 1,
            message: "the file is UTF-16 (\"Unicode text\"); save it as UTF-8 CSV".into(),
        });
    }
    let without_bom = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    match std::str::from_utf8(without_bom) {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => decode_strictly(bytes, GB18030, Encoding::Gb18030),
    }
}

fn decode_utf8(bytes: &[u8]) -> Result<String, ImportError> {
    let without_bom = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    std::str::from_utf8(without_bom)
        .map(str::to_owned)
        .map_err(|e| undecodable(without_bom, e.valid_up_to(), Encoding::Utf8))
}

fn decode_strictly(
    bytes: &[u8],
    encoding: &'static encoding_rs::Encoding,
    name: Encoding,
) -> Result<String, ImportError> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .ok_or_else(|| ImportError::Undecodable {
            line: 1,
            message: "the file is too large to decode".into(),
        })?;
    let mut text = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
    match result {
        DecoderResult::InputEmpty => Ok(text),
        DecoderResult::Malformed(bad, after) => {
            let start = read.saturating_sub(usize::from(bad) + usize::from(after));
            Err(undecodable(bytes, start, name))
        }
        // Cannot happen: the buffer was sized for the worst case. Reported rather than trusted.
        DecoderResult::OutputFull => Err(ImportError::Undecodable {
            line: 1,
            message: "the decoder ran out of room".into(),
        }),
    }
}

fn undecodable(bytes: &[u8], offset: usize, encoding: Encoding) -> ImportError {
    let before = bytes.get(..offset).unwrap_or(bytes);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let shown: Vec<String> = bytes
        .iter()
        .skip(offset)
        .take(4)
        .map(|b| format!("{b:02X}"))
        .collect();
    ImportError::Undecodable {
        line,
        message: format!(
            "bytes {} are not valid {encoding} (choose another --encoding)",
            shown.join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb18030(text: &str) -> Vec<u8> {
        GB18030.encode(text).0.into_owned()
    }

    #[test]
    fn parses_the_option_names() {
        assert_eq!("auto".parse::<Encoding>().unwrap(), Encoding::Auto);
        assert_eq!("UTF-8".parse::<Encoding>().unwrap(), Encoding::Utf8);
        assert_eq!("gb18030".parse::<Encoding>().unwrap(), Encoding::Gb18030);
        assert_eq!(
            "windows-1252".parse::<Encoding>().unwrap(),
            Encoding::Windows1252
        );
        assert!("latin1".parse::<Encoding>().is_err());
    }

    #[test]
    fn detects_utf8_with_and_without_bom() {
        assert_eq!(decode("仪器".as_bytes(), Encoding::Auto).unwrap(), "仪器");
        let with_bom = [UTF8_BOM, "仪器".as_bytes()].concat();
        assert_eq!(decode(&with_bom, Encoding::Auto).unwrap(), "仪器");
        assert_eq!(decode(&with_bom, Encoding::Utf8).unwrap(), "仪器");
    }

    #[test]
    fn falls_back_to_gb18030() {
        let bytes = gb18030("仪器编号,仪器设备名称\n");
        assert!(std::str::from_utf8(&bytes).is_err());
        assert_eq!(
            decode(&bytes, Encoding::Auto).unwrap(),
            "仪器编号,仪器设备名称\n"
        );
    }

    #[test]
    fn names_the_line_of_an_undecodable_byte() {
        let mut bytes = gb18030("a\nb\n");
        bytes.extend_from_slice(b"c\xFF\n");
        let error = decode(&bytes, Encoding::Auto).unwrap_err();
        assert!(error.to_string().starts_with("line 3:"), "{error}");
        let error = decode(b"ok\n\xC3(", Encoding::Utf8).unwrap_err();
        assert!(error.to_string().starts_with("line 2:"), "{error}");
    }

    #[test]
    fn decodes_windows_1252_only_when_asked() {
        assert_eq!(decode(b"caf\xE9", Encoding::Windows1252).unwrap(), "café");
        assert!(decode(b"\xFF\xFEa\x00", Encoding::Auto).is_err());
    }
}
