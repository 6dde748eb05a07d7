//! Signed notes as text: the body and the signature lines, split apart and put back together.
//!
//! The hub serves its checkpoint with every cosignature it holds, so it needs to add signature
//! lines to a note it signed earlier; the nodes need the lines apart to check each cosignature.
//! Both work on the note text itself rather than on a parsed form, so that lines pass through
//! byte for byte. Syntax checks are `signed_note`'s.

use signed_note::{Note, Signature};

use crate::checkpoint::CheckpointError;

/// Splits a signed note into its body (the text before the blank line, with its final newline:
/// what the signatures sign) and its signature lines (without their newlines). Fails unless the
/// whole note is well-formed per c2sp.org/signed-note.
pub fn split_note(note: &str) -> Result<(&str, Vec<&str>), CheckpointError> {
    Note::from_bytes(note.as_bytes()).map_err(|_| CheckpointError::MalformedNote)?;
    // Same rule as signed_note: the signatures follow the last blank line.
    let (text, signatures) = note
        .rsplit_once("\n\n")
        .ok_or(CheckpointError::MalformedNote)?;
    let body = note
        .get(..=text.len())
        .ok_or(CheckpointError::MalformedNote)?;
    let signatures = signatures
        .strip_suffix('\n')
        .ok_or(CheckpointError::MalformedNote)?;
    Ok((body, signatures.split('\n').collect()))
}

/// Adds signature lines to a signed note and returns the new note text. A line by the same key
/// (name and key ID) as a line already there replaces it, so a witness that cosigns again does
/// not make the note grow; other lines keep their place. The lines are not verified here: the
/// caller attaches only lines it has checked (see [`crate::verify_cosignature`]).
pub fn attach_signatures<S: AsRef<str>>(
    note: &str,
    lines: &[S],
) -> Result<String, CheckpointError> {
    let (body, existing) = split_note(note)?;
    let mut kept = keyed(&existing)?;
    for line in lines {
        let line = line.as_ref();
        let key = key_of(line)?;
        kept.retain(|(old, _)| *old != key);
        kept.push((key, line));
    }
    let mut text = format!("{body}\n");
    for (_, line) in kept {
        text.push_str(line);
        text.push('\n');
    }
    // The result is checked as a whole too (for example against the limit on signatures).
    split_note(&text)?;
    Ok(text)
}

/// Parses one signature line (without its newline).
pub(crate) fn signer_of(line: &str) -> Result<Signature, CheckpointError> {
    Signature::from_bytes(line.as_bytes())
        .map_err(|_| CheckpointError::MalformedSignature("not '— <name> <base64>'"))
}

/// The key a signature line is by: its name and key ID.
type KeyId = (String, u32);

fn key_of(line: &str) -> Result<KeyId, CheckpointError> {
    let signature = signer_of(line)?;
    Ok((signature.name().to_owned(), signature.id()))
}

fn keyed<'a>(lines: &[&'a str]) -> Result<Vec<(KeyId, &'a str)>, CheckpointError> {
    lines
        .iter()
        .map(|line| Ok((key_of(line)?, *line)))
        .collect()
}
