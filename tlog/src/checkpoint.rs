//! Checkpoints (c2sp.org/tlog-checkpoint) and the log's signature on them (c2sp.org/signed-note).
//!
//! A checkpoint is the log's signed statement "my tree of `size` leaves has root `root`". The
//! nodes only believe a root that comes in a checkpoint signed by the log key they were
//! configured with, and whose origin is that key's name, so a checkpoint of one log can never
//! be passed off as another's even if both were signed with the same key.
//!
//! Parsing the body is `tlog_tiles`'s strict parser; signing and verifying are `signed_note`'s.

use std::fmt;

use ed25519_dalek::SigningKey;
use signed_note::{Note, StandardVerifier, Verifier as _};

use crate::Hash;
use crate::note::{signer_of, split_note};

/// The signature type byte of plain Ed25519 note signatures (c2sp.org/signed-note).
const ED25519_TYPE: u8 = 0x01;

/// What can go wrong with checkpoints, notes, signatures and keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The text is not a checkpoint body per c2sp.org/tlog-checkpoint.
    #[error("not a checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// The text is not a signed note per c2sp.org/signed-note.
    #[error("not a signed note (c2sp.org/signed-note)")]
    MalformedNote,
    /// A signature line is not `— <name> <base64>` with a well-formed signature.
    #[error("malformed signature line: {0}")]
    MalformedSignature(&'static str),
    /// Key names must be non-empty, without spaces or `+`.
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    InvalidKeyName(String),
    /// The string is not a verifier key of the expected type.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    /// The checkpoint's origin is not the log key's name.
    #[error("checkpoint origin {origin:?} is not the log key name {name:?}")]
    OriginMismatch { origin: String, name: String },
    /// No signature line by the log's key.
    #[error("the note has no signature by {0}")]
    NotSigned(String),
    /// More than one signature line by the log's key (a log signs a checkpoint once).
    #[error("the note has more than one signature by {0}")]
    DuplicateSignature(String),
    /// A signature by the expected key that does not verify.
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
    /// A signature line by another key than the one it is checked against.
    #[error("the signature line is by {found}, not {expected}")]
    WrongSigner { found: String, expected: String },
    /// Cosignature timestamps must not exceed 2^63 − 1 (c2sp.org/tlog-cosignature).
    #[error("timestamp {0} is larger than 2^63 - 1")]
    TimestampTooLarge(u64),
}

/// A checkpoint: the origin (the log's name), the tree size and the root hash, plus any
/// extension lines. Every value of this type formats to a valid checkpoint body.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines. The origin must be non-empty and free of control
    /// characters (a newline would end the line; the note format forbids the others).
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        check_line(origin, "empty or control character in the origin")?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Parses a checkpoint body (the note text, ending in a newline), strictly: exactly the
    /// C2SP grammar (canonical decimal size, canonical base64 of 32 bytes), extension lines
    /// kept as they are.
    pub fn parse(body: &str) -> Result<Self, CheckpointError> {
        if body.chars().any(|c| is_note_control(c) && c != '\n') {
            return Err(CheckpointError::MalformedCheckpoint("control character"));
        }
        let parsed = tlog_tiles::Checkpoint::from_bytes(body.as_bytes())
            .map_err(|_| CheckpointError::MalformedCheckpoint("not the c2sp.org grammar"))?;
        let mut checkpoint = Self::new(parsed.origin(), parsed.size(), *parsed.hash())?;
        checkpoint.extensions = parsed
            .extension()
            .split_terminator('\n')
            .map(str::to_owned)
            .collect();
        Ok(checkpoint)
    }

    /// The log's name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size: for yiqi, the seq of the last entry the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root hash of the tree.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Extension lines, without their newlines (c2sp.org discourages them; they are kept so
    /// that a parsed checkpoint formats back to the same bytes).
    pub fn extension_lines(&self) -> &[String] {
        &self.extensions
    }

    /// The checkpoint body: the text that is signed, ending in a newline.
    pub fn to_body(&self) -> String {
        let mut body = format!("{}\n{}\n{}\n", self.origin, self.size, self.root);
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }
}

fn check_line(line: &str, problem: &'static str) -> Result<(), CheckpointError> {
    if line.is_empty() || line.chars().any(is_note_control) {
        return Err(CheckpointError::MalformedCheckpoint(problem));
    }
    Ok(())
}

/// The characters c2sp.org/signed-note forbids in a note, apart from the newline: those below
/// U+0020.
fn is_note_control(c: char) -> bool {
    c < ' '
}

pub(crate) fn check_key_name(name: &str) -> Result<(), CheckpointError> {
    if !signed_note::is_key_name_valid(name) {
        return Err(CheckpointError::InvalidKeyName(name.to_owned()));
    }
    Ok(())
}

/// `name+hex(key ID)`, how keys are named in errors.
pub(crate) fn key_label(name: &str, id: u32) -> String {
    format!("{name}+{id:08x}")
}

/// The log's checkpoint signer: an Ed25519 key and the log's name, which is also the origin of
/// every checkpoint it signs.
#[derive(Debug, Clone)]
pub struct LogSigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl LogSigner {
    /// A signer for the log called `name` (its origin, e.g. `hub.example.org/yiqi-log`).
    pub fn new(name: &str, key: SigningKey) -> Result<Self, CheckpointError> {
        check_key_name(name)?;
        let mut typed = vec![ED25519_TYPE];
        typed.extend_from_slice(key.verifying_key().as_bytes());
        let id = signed_note::key_id(name, &typed);
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The log's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key the nodes are configured with: `name+hex(key ID)+base64(0x01 ‖ key)`.
    pub fn verifier_key(&self) -> String {
        signed_note::new_ed25519_verifier_key(&self.name, &self.key.verifying_key())
    }

    /// Signs `checkpoint` into a signed note. The checkpoint's origin must be the log's name.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, CheckpointError> {
        if checkpoint.origin() != self.name {
            return Err(CheckpointError::OriginMismatch {
                origin: checkpoint.origin().to_owned(),
                name: self.name.clone(),
            });
        }
        let mut note = Note::new(checkpoint.to_body().as_bytes(), &[])
            .map_err(|_| CheckpointError::MalformedNote)?;
        note.add_sigs(&[&NoteSigner(self)])
            .map_err(|_| CheckpointError::MalformedNote)?;
        String::from_utf8(note.to_bytes()).map_err(|_| CheckpointError::MalformedNote)
    }
}

/// `signed_note`'s signer trait, kept off [`LogSigner`] so that `signed_note` stays out of this
/// crate's public API.
struct NoteSigner<'a>(&'a LogSigner);

impl signed_note::Signer for NoteSigner<'_> {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn key_id(&self) -> u32 {
        self.0.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        use ed25519_dalek::Signer as _;
        Ok(self.0.key.sign(msg).to_vec())
    }
}

/// A log's public key, parsed from its verifier key string.
#[derive(Clone)]
pub struct LogVerifier {
    vkey: String,
    inner: StandardVerifier,
}

impl LogVerifier {
    /// Parses `name+hex(key ID)+base64(0x01 ‖ 32-byte Ed25519 key)`, checking the key ID.
    pub fn from_vkey(vkey: &str) -> Result<Self, CheckpointError> {
        let inner = StandardVerifier::new(vkey).map_err(|e| {
            CheckpointError::MalformedVerifierKey(match e {
                signed_note::VerifierError::Alg => "not an Ed25519 (0x01) key",
                signed_note::VerifierError::Id => "key ID does not match the name and key",
                signed_note::VerifierError::Format => "not name+keyid+key",
            })
        })?;
        Ok(Self {
            vkey: vkey.to_owned(),
            inner,
        })
    }

    /// The log's name, which checkpoints must carry as their origin.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.inner.key_id()
    }
}

impl fmt::Display for LogVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.vkey)
    }
}

impl fmt::Debug for LogVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LogVerifier").field(&self.vkey).finish()
    }
}

impl std::str::FromStr for LogVerifier {
    type Err = CheckpointError;

    fn from_str(vkey: &str) -> Result<Self, CheckpointError> {
        Self::from_vkey(vkey)
    }
}

/// Opens a signed checkpoint: checks that it carries exactly one signature by `log` and that it
/// verifies, then parses the body and checks the origin is the log's name. Returns the
/// checkpoint and the other signature lines (cosignatures, or signatures by keys this node does
/// not know), exactly as they were, without their newlines.
pub fn open_checkpoint(
    note: &str,
    log: &LogVerifier,
) -> Result<(Checkpoint, Vec<String>), CheckpointError> {
    let (body, lines) = split_note(note)?;
    let (own, others) = partition_by_key(&lines, log.name(), log.key_id())?;
    let label = key_label(log.name(), log.key_id());
    let signature = match own.as_slice() {
        [] => return Err(CheckpointError::NotSigned(label)),
        [one] => one.signature().to_vec(),
        _ => return Err(CheckpointError::DuplicateSignature(label)),
    };
    // The body is read only once the signature over it is known to be good.
    if !log.inner.verify(body.as_bytes(), &signature) {
        return Err(CheckpointError::BadSignature(label));
    }
    let checkpoint = Checkpoint::parse(body)?;
    if checkpoint.origin() != log.name() {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin().to_owned(),
            name: log.name().to_owned(),
        });
    }
    Ok((checkpoint, others))
}

/// Splits signature lines into those by the key `(name, id)` and the others (kept verbatim).
fn partition_by_key(
    lines: &[&str],
    name: &str,
    id: u32,
) -> Result<(Vec<signed_note::Signature>, Vec<String>), CheckpointError> {
    let mut own = Vec::new();
    let mut others = Vec::new();
    for line in lines {
        let signature = signer_of(line)?;
        if signature.name() == name && signature.id() == id {
            own.push(signature);
        } else {
            others.push((*line).to_owned());
        }
    }
    Ok((own, others))
}
