//! Checkpoints: the strict C2SP grammar, the log's signature, opening.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use yiqi_tlog::{
    Checkpoint, CheckpointError, Hash, LogSigner, LogVerifier, Witness, attach_signatures,
    leaf_hash, open_checkpoint, split_note,
};

use crate::common::{rfc8032_test1_key, rfc8032_test2_key, sha256};

const ORIGIN: &str = "example.org/yiqi-log";
/// Base64 of leaf_hash("hello").
const ROOT: &str = "iipcm3aIJ95alVLDigRMZpWcaPbS8htSYK9U0vh9uCc=";

fn signer() -> LogSigner {
    LogSigner::new(ORIGIN, rfc8032_test1_key()).unwrap()
}

fn verifier() -> LogVerifier {
    LogVerifier::from_vkey(&signer().verifier_key()).unwrap()
}

fn signed(size: u64) -> String {
    let checkpoint = Checkpoint::new(ORIGIN, size, leaf_hash(b"hello")).unwrap();
    signer().sign(&checkpoint).unwrap()
}

#[test]
fn body_is_the_three_c2sp_lines() {
    let checkpoint = Checkpoint::new(ORIGIN, 3, leaf_hash(b"hello")).unwrap();
    assert_eq!(ROOT, leaf_hash(b"hello").to_string());
    assert_eq!(checkpoint.to_body(), format!("{ORIGIN}\n3\n{ROOT}\n"));
    assert_eq!(
        Checkpoint::parse(&checkpoint.to_body()).unwrap(),
        checkpoint
    );
}

#[test]
fn strict_parsing_accepts_exactly_the_grammar() {
    let good = [
        format!("{ORIGIN}\n0\n{ROOT}\n"),
        format!("{ORIGIN}\n18446744073709551615\n{ROOT}\n"),
        format!("o\n1\n{ROOT}\next one\next two\n"),
        format!("has spaces + plus\n1\n{ROOT}\n"),
    ];
    for body in &good {
        let checkpoint = Checkpoint::parse(body).unwrap();
        assert_eq!(&checkpoint.to_body(), body, "round trip");
    }
    let parsed = Checkpoint::parse(&good[2]).unwrap();
    assert_eq!(parsed.extension_lines(), ["ext one", "ext two"]);

    let bad = [
        String::new(),
        format!("\n1\n{ROOT}\n"),                            // empty origin
        format!("{ORIGIN}\n01\n{ROOT}\n"),                   // leading zero
        format!("{ORIGIN}\n+1\n{ROOT}\n"),                   // sign
        format!("{ORIGIN}\n-1\n{ROOT}\n"),                   // negative
        format!("{ORIGIN}\n18446744073709551616\n{ROOT}\n"), // > u64
        format!("{ORIGIN}\n 1\n{ROOT}\n"),                   // space
        format!("{ORIGIN}\n1\n{}\n", &ROOT[..43]),           // unpadded base64
        format!("{ORIGIN}\n1\nz3Y6BByBzu8VeKYIP3XGG-8uABTyo-aDqX_Pylvn8Zo=\n"), // base64url
        format!("{ORIGIN}\n1\nAAAA\n"),                      // 3 bytes
        format!("{ORIGIN}\n1\n{ROOT}"),                      // no final newline
        format!("{ORIGIN}\n1\n{ROOT}\n\n"),                  // empty extension line
        format!("{ORIGIN}\n1\n{ROOT}\next"),                 // unterminated extension
        format!("{ORIGIN}\n1\n"),                            // no root
        format!("{ORIGIN}\r\n1\n{ROOT}\n"),                  // CR
        format!("{ORIGIN}\n1\n{ROOT}\nta\tb\n"),             // control character
        format!("{ORIGIN}\n1\n{ROOT}\r\n"),
    ];
    for body in &bad {
        assert!(
            matches!(
                Checkpoint::parse(body),
                Err(CheckpointError::MalformedCheckpoint(_))
            ),
            "accepted {body:?}"
        );
    }
}

#[test]
fn origins_with_newlines_or_control_characters_are_refused() {
    for origin in ["", "a\nb", "a\tb", "a\u{0}"] {
        assert!(
            Checkpoint::new(origin, 1, Hash::default()).is_err(),
            "{origin:?}"
        );
    }
}

#[test]
fn signing_and_opening() {
    let note = signed(3);
    let (body, lines) = split_note(&note).unwrap();
    assert_eq!(body, format!("{ORIGIN}\n3\n{ROOT}\n"));
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with(&format!("— {ORIGIN} ")));

    let (checkpoint, others) = open_checkpoint(&note, &verifier()).unwrap();
    assert_eq!(checkpoint.origin(), ORIGIN);
    assert_eq!(checkpoint.size(), 3);
    assert_eq!(checkpoint.root(), leaf_hash(b"hello"));
    assert!(others.is_empty());
}

#[test]
fn the_log_key_id_follows_signed_note() {
    let key = rfc8032_test1_key();
    let public = key.verifying_key().to_bytes();
    let id = &sha256(&[ORIGIN.as_bytes(), b"\n", &[1], &public]).0[..4];
    let vkey = signer().verifier_key();
    let mut typed = vec![1];
    typed.extend_from_slice(&public);
    use base64::Engine as _;
    let expected = format!(
        "{ORIGIN}+{}+{}",
        hex::encode(id),
        base64::prelude::BASE64_STANDARD.encode(typed)
    );
    assert_eq!(vkey, expected);
    assert_eq!(
        verifier().key_id(),
        u32::from_be_bytes(id.try_into().unwrap())
    );
    assert_eq!(verifier().name(), ORIGIN);
    assert_eq!(verifier().to_string(), vkey);
    assert_eq!(vkey.parse::<LogVerifier>().unwrap().to_string(), vkey);
}

#[test]
fn cosignatures_come_back_untouched() {
    let note = signed(3);
    let (body, _) = split_note(&note).unwrap();
    let witness = Witness::new("witness.example.org/w1", rfc8032_test2_key()).unwrap();
    let cosignature = witness.cosign(body, 1_767_225_600).unwrap();
    let stranger = "— someone.else/key AAAAAAAA";
    let note = attach_signatures(&note, &[cosignature.as_str(), stranger]).unwrap();
    let (_, others) = open_checkpoint(&note, &verifier()).unwrap();
    assert_eq!(others, vec![cosignature, stranger.to_owned()]);
}

#[test]
fn tampering_is_caught() {
    let note = signed(3);
    let verifier = verifier();

    let bigger = note.replacen("\n3\n", "\n4\n", 1);
    assert!(matches!(
        open_checkpoint(&bigger, &verifier),
        Err(CheckpointError::BadSignature(_))
    ));

    let other_key = SigningKey::from_bytes(&[7; 32]);
    let impostor = LogSigner::new(ORIGIN, other_key).unwrap();
    let forged = impostor
        .sign(&Checkpoint::new(ORIGIN, 3, leaf_hash(b"hello")).unwrap())
        .unwrap();
    assert!(matches!(
        open_checkpoint(&forged, &verifier),
        Err(CheckpointError::NotSigned(_))
    ));
}

#[test]
fn a_second_log_signature_is_refused() {
    let note = signed(3);
    let (_, lines) = split_note(&note).unwrap();
    // Same key, a different (broken) signature: signed_note would skip it; we refuse the note.
    let mut broken = lines[0].to_owned();
    broken.truncate(broken.len() - 4);
    broken.push_str("AAA=");
    let doubled = format!("{note}{broken}\n");
    assert!(matches!(
        open_checkpoint(&doubled, &verifier()),
        Err(CheckpointError::DuplicateSignature(_))
    ));
}

#[test]
fn the_origin_must_be_the_key_name() {
    let key = rfc8032_test1_key();
    let other = LogSigner::new("example.org/other-log", key.clone()).unwrap();
    let checkpoint = Checkpoint::new(ORIGIN, 1, Hash::default()).unwrap();
    assert!(matches!(
        other.sign(&checkpoint),
        Err(CheckpointError::OriginMismatch { .. })
    ));
    // A note whose body names another origin, validly signed with the key named ORIGIN.
    let text = format!("example.org/other-log\n1\n{}\n", Hash::default());
    let note = sign_raw(&text, &key);
    assert!(matches!(
        open_checkpoint(&note, &verifier()),
        Err(CheckpointError::OriginMismatch { .. })
    ));
}

#[test]
fn a_signed_note_that_is_not_a_checkpoint_is_refused_after_its_signature() {
    // c2sp.org/signed-note's example: the signature verifies, the text is not a checkpoint.
    let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let note = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let verifier = LogVerifier::from_vkey(vkey).unwrap();
    assert!(matches!(
        open_checkpoint(note, &verifier),
        Err(CheckpointError::MalformedCheckpoint(_))
    ));
    let tampered = note.replace("example message", "exemplary message");
    assert!(matches!(
        open_checkpoint(&tampered, &verifier),
        Err(CheckpointError::BadSignature(_))
    ));
}

#[test]
fn malformed_notes_are_refused() {
    let note = signed(3);
    let cases = [
        String::new(),
        note.replace("\n\n", "\n"), // no blank line
        note.trim_end().to_owned(), // no final newline
        note.replace('—', "-"),     // not an em dash
        format!("{note}not a signature\n"),
        note.replace(&format!("— {ORIGIN} "), &format!("— {ORIGIN}  ")),
        format!("\u{1}{note}"),
    ];
    for bad in &cases {
        assert!(
            matches!(
                open_checkpoint(bad, &verifier()),
                Err(CheckpointError::MalformedNote)
            ),
            "accepted {bad:?}"
        );
    }
}

#[test]
fn bad_verifier_keys_are_refused() {
    let good = signer().verifier_key();
    let witness_vkey = Witness::new("w", rfc8032_test2_key())
        .unwrap()
        .verifier_key();
    let (name, rest) = good.split_once('+').unwrap();
    let (id, key) = rest.split_once('+').unwrap();
    let cases = [
        String::new(),
        name.to_owned(),
        format!("{name}+{id}"),
        format!("{name}+00000000+{key}"),
        format!("other+{id}+{key}"),
        format!("{name}+{id}+{}", &key[..10]),
        format!("{name}+{id}x+{key}"),
        witness_vkey,
    ];
    for vkey in &cases {
        assert!(
            matches!(
                LogVerifier::from_vkey(vkey),
                Err(CheckpointError::MalformedVerifierKey(_))
            ),
            "accepted {vkey:?}"
        );
    }
    assert!(matches!(
        LogSigner::new("bad name", rfc8032_test1_key()),
        Err(CheckpointError::InvalidKeyName(_))
    ));
    assert!(LogSigner::new("a+b", rfc8032_test1_key()).is_err());
    assert!(LogSigner::new("", rfc8032_test1_key()).is_err());
}

/// Signs arbitrary text with Ed25519 as a signed note by ORIGIN, outside the crate's API.
fn sign_raw(text: &str, key: &SigningKey) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let public = key.verifying_key().to_bytes();
    let id = &sha256(&[ORIGIN.as_bytes(), b"\n", &[1], &public]).0[..4];
    let mut signature = id.to_vec();
    signature.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
    format!(
        "{text}\n— {ORIGIN} {}\n",
        base64::prelude::BASE64_STANDARD.encode(signature)
    )
}

proptest! {
    /// Parsing never panics on arbitrary text, and what parses formats back to the same text.
    #[test]
    fn parsing_arbitrary_text_never_panics(text in "[a-z0-9/+=\n\\- ]{0,80}") {
        if let Ok(checkpoint) = Checkpoint::parse(&text) {
            prop_assert_eq!(checkpoint.to_body(), text);
        }
    }

    /// Opening arbitrary text never panics.
    #[test]
    fn opening_arbitrary_text_never_panics(text in "(.|\n){0,200}") {
        let _ = open_checkpoint(&text, &verifier());
    }
}
