//! # yiqi-schema
//!
//! The instrument record every region signs and every party verifies: its JSON Schema, the strict
//! I-JSON parser, RFC 8785 canonical bytes, the signed envelope and the national classification.
//! The hub and the nodes both depend on this crate and on nothing else for validity, so a record
//! the hub accepts is a record every node accepts.
//!
//! ## Layout
//! - [`ijson`]: strict parsing (duplicate names, unsafe integers and deep nesting rejected).
//! - [`canonical`]: RFC 8785 bytes.
//! - [`envelope`]: signing, and [`envelope::check_envelope`], the one ordered check of an envelope.
//! - [`validate`]: the embedded JSON Schema and the rules it cannot express.
//! - [`rejection`]: the stable error codes; [`echo`]: client input quoted in errors, bounded.
//! - [`keys`]: public keys in base64url, secret keys in PKCS#8 PEM; [`verifier`]: many
//!   signatures by few keys, each key with a table of its multiples.
//! - [`protocol`]: wire types and rules the hub and nodes share, e.g. [`protocol::keys::KeyBook`]
//!   (region keys from key records, and who may sign what).
//! - [`classification`], [`regions`]: the reference tables records point into.
//! - [`protocol`]: the wire types and the enumerations' labels; [`spreadsheet`]: safe CSV cells.

pub mod canonical;
pub mod classification;
pub mod echo;
pub mod envelope;
pub mod ijson;
pub mod keys;
pub mod protocol;
pub mod regions;
pub mod rejection;
pub mod spreadsheet;
pub mod testing;
pub mod validate;
pub mod verifier;

pub use envelope::{
    BegunCheck, DECIDED_TOGETHER, Envelope, VerifiedEnvelope, begin_check_parsed, begin_check_with,
    check_envelope, check_envelope_with, finish_checks, sign,
};
pub use rejection::{ErrorCode, Rejection};
pub use validate::{Violation, validate_record};
