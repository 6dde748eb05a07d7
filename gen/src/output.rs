//! Writing a catalogue: NDJSON, or a JSON array when the file name ends in `.json`, each record
//! in RFC 8785 canonical form, written to a temporary file beside the target and renamed over
//! it so that readers never see half a catalogue.

use serde_json::Value;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use yiqi_schema::canonical::canonical_bytes;

/// Writes `records` to `out`, replacing it atomically.
pub fn write_catalogue(records: &[Value], out: &Path) -> Result<(), io::Error> {
    let bytes = if is_json_array_path(out) {
        json_array(records)
    } else {
        ndjson(records)
    };
    let temporary = temporary_beside(out)?;
    let written = write_synced(&temporary, &bytes).and_then(|()| fs::rename(&temporary, out));
    if written.is_err() {
        // The temporary file is ours and useless now; the original error is what matters.
        let _ = fs::remove_file(&temporary);
    }
    written
}

fn is_json_array_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"))
}

fn ndjson(records: &[Value]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for record in records {
        bytes.extend(canonical_bytes(record));
        bytes.push(b'\n');
    }
    bytes
}

fn json_array(records: &[Value]) -> Vec<u8> {
    if records.is_empty() {
        return b"[]\n".to_vec();
    }
    let mut bytes = b"[\n".to_vec();
    for (position, record) in records.iter().enumerate() {
        if position > 0 {
            bytes.extend(b",\n");
        }
        bytes.extend(canonical_bytes(record));
    }
    bytes.extend(b"\n]\n");
    bytes
}

/// A fresh name in the target's folder, so that the rename stays on one file system.
fn temporary_beside(out: &Path) -> Result<PathBuf, io::Error> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let name = out.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", out.display()),
        )
    })?;
    let folder = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let temporary = format!(
        ".{}.{}-{sequence}.tmp",
        name.to_string_lossy(),
        std::process::id()
    );
    Ok(folder.join(temporary))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), io::Error> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ndjson_unless_the_name_ends_in_json() {
        let folder = tempfile::tempdir().unwrap();
        let records = [json!({"b": 1, "a": "仪器"}), json!({"c": [1.5]})];
        let lines = folder.path().join("catalogue.ndjson");
        write_catalogue(&records, &lines).unwrap();
        let text = fs::read_to_string(&lines).unwrap();
        assert_eq!(text, "{\"a\":\"仪器\",\"b\":1}\n{\"c\":[1.5]}\n");
        let array = folder.path().join("catalogue.JSON");
        write_catalogue(&records, &array).unwrap();
        let parsed: Vec<Value> = serde_json::from_slice(&fs::read(&array).unwrap()).unwrap();
        assert_eq!(parsed, records);
        write_catalogue(&[], &array).unwrap();
        assert_eq!(fs::read_to_string(&array).unwrap(), "[]\n");
        let leftovers = fs::read_dir(folder.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary files stay behind");
    }

    #[test]
    fn a_missing_folder_is_an_error_and_leaves_nothing() {
        let folder = tempfile::tempdir().unwrap();
        let out = folder.path().join("missing").join("c.ndjson");
        assert!(write_catalogue(&[json!({})], &out).is_err());
        assert!(write_catalogue(&[json!({})], Path::new("/")).is_err());
    }
}
