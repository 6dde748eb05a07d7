//! Witness cosignatures (c2sp.org/tlog-cosignature) and attaching signature lines to notes.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use ed25519_dalek::{Signature, SigningKey, Verifier as _};
use yiqi_tlog::{
    Checkpoint, CheckpointError, LogSigner, Witness, WitnessVerifier, attach_signatures, leaf_hash,
    open_checkpoint, split_note, verify_cosignature,
};

use crate::common::{rfc8032_test1_key, rfc8032_test2_key, sha256};

const WITNESS: &str = "witness.example.org/w1";
const TIME: u64 = 1_767_225_600;

fn witness() -> Witness {
    Witness::new(WITNESS, rfc8032_test2_key()).unwrap()
}

fn note(size: u64) -> String {
    let log = LogSigner::new("example.org/yiqi-log", rfc8032_test1_key()).unwrap();
    let checkpoint = Checkpoint::new("example.org/yiqi-log", size, leaf_hash(b"x")).unwrap();
    log.sign(&checkpoint).unwrap()
}

fn body(note: &str) -> String {
    split_note(note).unwrap().0.to_owned()
}

#[test]
fn cosign_and_verify() {
    let body = body(&note(5));
    let line = witness().cosign(&body, TIME).unwrap();
    let verifier = WitnessVerifier::from_vkey(&witness().verifier_key()).unwrap();
    assert_eq!(verify_cosignature(&line, &body, &verifier), Ok(TIME));
}

#[test]
fn a_verifier_from_a_public_key_is_the_witnesss_own() {
    let public = rfc8032_test2_key().verifying_key();
    let verifier = WitnessVerifier::from_key(WITNESS, public).unwrap();
    assert_eq!(verifier, witness().verifier());
    assert_eq!(
        WitnessVerifier::from_key("two words", public),
        Err(CheckpointError::InvalidKeyName("two words".into()))
    );
}

/// The line, key ID and signed message are rebuilt here from the spec text, with `sha2` and
/// `ed25519_dalek` directly.
#[test]
fn the_wire_format_is_the_specs() {
    let body = body(&note(5));
    let line = witness().cosign(&body, TIME).unwrap();
    let public = rfc8032_test2_key().verifying_key();

    let encoded = line
        .strip_prefix(&format!("— {WITNESS} "))
        .expect("em dash, space, name, space");
    let bytes = BASE64_STANDARD.decode(encoded).unwrap();
    assert_eq!(bytes.len(), 4 + 8 + 64);
    let key_id = &sha256(&[WITNESS.as_bytes(), b"\n", &[0x04], public.as_bytes()]).0[..4];
    assert_eq!(&bytes[..4], key_id);
    assert_eq!(bytes[4..12], TIME.to_be_bytes());
    let message = format!("cosignature/v1\ntime {TIME}\n{body}");
    let signature = Signature::from_slice(&bytes[12..]).unwrap();
    public.verify(message.as_bytes(), &signature).unwrap();

    let mut typed = vec![0x04];
    typed.extend_from_slice(public.as_bytes());
    assert_eq!(
        witness().verifier_key(),
        format!(
            "{WITNESS}+{}+{}",
            hex::encode(key_id),
            BASE64_STANDARD.encode(typed)
        )
    );
}

#[test]
fn failures_say_what_failed() {
    let body = body(&note(5));
    let witness = witness();
    let verifier = witness.verifier();
    let line = witness.cosign(&body, TIME).unwrap();

    let other_body = body.replace("\n5\n", "\n6\n");
    assert!(matches!(
        verify_cosignature(&line, &other_body, &verifier),
        Err(CheckpointError::BadSignature(_))
    ));

    let stranger = Witness::new("other.example/w", SigningKey::from_bytes(&[9; 32])).unwrap();
    assert!(matches!(
        verify_cosignature(&line, &body, &stranger.verifier()),
        Err(CheckpointError::WrongSigner { .. })
    ));
    // Same name, other key: the key ID differs, so the line is not this witness's.
    let same_name = Witness::new(WITNESS, SigningKey::from_bytes(&[9; 32])).unwrap();
    assert!(matches!(
        verify_cosignature(&line, &body, &same_name.verifier()),
        Err(CheckpointError::WrongSigner { .. })
    ));

    // A timestamp changed after signing.
    let later = relabel(&line, |bytes| bytes[11] ^= 1);
    assert!(matches!(
        verify_cosignature(&later, &body, &verifier),
        Err(CheckpointError::BadSignature(_))
    ));
    // No timestamp: the shape of a plain signature.
    let short = relabel(&line, |bytes| bytes.truncate(4 + 64));
    assert!(matches!(
        verify_cosignature(&short, &body, &verifier),
        Err(CheckpointError::MalformedSignature(_))
    ));
    assert!(matches!(
        verify_cosignature("— x", &body, &verifier),
        Err(CheckpointError::MalformedSignature(_))
    ));
    assert!(matches!(
        verify_cosignature(&format!("{line}\n"), &body, &verifier),
        Err(CheckpointError::MalformedSignature(_))
    ));
}

#[test]
fn timestamps_above_2_pow_63_are_refused() {
    let body = body(&note(5));
    let witness = witness();
    let max = i64::MAX as u64;
    assert!(witness.cosign(&body, max).is_ok());
    assert_eq!(
        witness.cosign(&body, max + 1),
        Err(CheckpointError::TimestampTooLarge(max + 1))
    );
    // A line claiming such a timestamp is refused before its signature is checked.
    let line = witness.cosign(&body, TIME).unwrap();
    let huge = relabel(&line, |bytes| bytes[4] = 0x80);
    assert!(matches!(
        verify_cosignature(&huge, &body, &witness.verifier()),
        Err(CheckpointError::TimestampTooLarge(_))
    ));
}

#[test]
fn witnesses_cosign_only_checkpoints() {
    assert!(matches!(
        witness().cosign("hello\n", TIME),
        Err(CheckpointError::MalformedCheckpoint(_))
    ));
}

#[test]
fn witness_verifier_keys_parse_strictly() {
    let good = witness().verifier_key();
    let parsed: WitnessVerifier = good.parse().unwrap();
    assert_eq!(parsed.to_string(), good);
    assert_eq!(parsed.name(), WITNESS);
    assert_eq!(parsed, witness().verifier());

    let log_vkey = LogSigner::new("log", rfc8032_test1_key())
        .unwrap()
        .verifier_key();
    let (name, rest) = good.split_once('+').unwrap();
    let (id, key) = rest.split_once('+').unwrap();
    let cases = [
        String::new(),
        format!("{name}+{id}"),
        format!("{name}+{}+{key}", id.to_uppercase()),
        format!("{name}+{}+{key}", &id[1..]),
        format!("{name}+00000000+{key}"),
        format!("{name}+{id}+{}", &key[4..]),
        format!("{name}+{id}+not base64"),
        format!("{name}+{id}+"),
        log_vkey,
    ];
    for vkey in &cases {
        assert!(
            matches!(
                WitnessVerifier::from_vkey(vkey),
                Err(CheckpointError::MalformedVerifierKey(_))
            ),
            "accepted {vkey:?}"
        );
    }
    assert!(matches!(
        WitnessVerifier::from_vkey(&format!("bad name+{id}+{key}")),
        Err(CheckpointError::InvalidKeyName(_))
    ));
}

#[test]
fn split_and_attach() {
    let note = note(5);
    let body = body(&note);
    let w1 = witness();
    let w2 = Witness::new("w2.example", SigningKey::from_bytes(&[2; 32])).unwrap();
    let c1 = w1.cosign(&body, TIME).unwrap();
    let c2 = w2.cosign(&body, TIME).unwrap();

    let with_both = attach_signatures(&note, &[&c1, &c2]).unwrap();
    let (split_body, lines) = split_note(&with_both).unwrap();
    assert_eq!(split_body, body);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1..], [c1.as_str(), c2.as_str()]);
    assert_eq!(with_both, format!("{note}{c1}\n{c2}\n"));

    // w1 cosigns again later: its line is replaced, not added.
    let c1_later = w1.cosign(&body, TIME + 60).unwrap();
    let updated = attach_signatures(&with_both, &[&c1_later]).unwrap();
    let (_, lines) = split_note(&updated).unwrap();
    assert_eq!(lines[1..], [c2.as_str(), c1_later.as_str()]);
    // Attaching the same line twice changes nothing.
    assert_eq!(attach_signatures(&updated, &[&c1_later]).unwrap(), updated);

    // The log's signature still opens the result, and hands back the cosignatures.
    let vkey = LogSigner::new("example.org/yiqi-log", rfc8032_test1_key())
        .unwrap()
        .verifier_key();
    let log = yiqi_tlog::LogVerifier::from_vkey(&vkey).unwrap();
    let (_, others) = open_checkpoint(&updated, &log).unwrap();
    assert_eq!(others, [c2, c1_later]);
    assert_eq!(
        verify_cosignature(&others[1], &body, &w1.verifier()),
        Ok(TIME + 60)
    );
}

#[test]
fn attaching_checks_lines_and_the_result() {
    let note = note(5);
    assert!(matches!(
        attach_signatures(&note, &["not a signature line"]),
        Err(CheckpointError::MalformedSignature(_))
    ));
    assert!(matches!(
        attach_signatures("no signatures\n", &["— a AAAAAAAA"]),
        Err(CheckpointError::MalformedNote)
    ));
    // signed_note's limit of 100 signatures per note.
    let many: Vec<String> = (0..100).map(|i| format!("— k{i} AAAAAAAA")).collect();
    assert!(matches!(
        attach_signatures(&note, &many),
        Err(CheckpointError::MalformedNote)
    ));
    assert!(attach_signatures(&note, &many[..99]).is_ok());
}

/// Re-encodes a cosignature line after changing its decoded bytes.
fn relabel(line: &str, change: impl FnOnce(&mut Vec<u8>)) -> String {
    let (prefix, encoded) = line.rsplit_once(' ').unwrap();
    let mut bytes = BASE64_STANDARD.decode(encoded).unwrap();
    change(&mut bytes);
    format!("{prefix} {}", BASE64_STANDARD.encode(bytes))
}
