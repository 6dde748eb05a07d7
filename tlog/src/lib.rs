//! # yiqi-tlog
//!
//! The transparency log over the hub's feed. The hub keeps the append-only log of signed
//! records (seq 1, 2, 3, …) and relays it to the nodes, but nothing a node believes may rest on
//! the hub being honest: the region signatures already stop it from forging records, and this
//! log stops it from dropping, reordering or rewriting entries, or from showing different nodes
//! different histories, without being caught.
//!
//! It is an RFC 6962 Merkle tree published with the C2SP formats (c2sp.org/tlog-checkpoint,
//! signed-note, tlog-cosignature, tlog-tiles), so that existing witnesses and tools can check
//! it, not only our own nodes. The tree arithmetic is `tlog_tiles`'s (Cloudflare's port of Go's
//! `sumdb/tlog`) and the note signatures are `signed_note`'s; this crate fixes yiqi's
//! conventions on top and fills in what those crates lack.
//!
//! ## Conventions
//! - **Leaf index = seq − 1.** The feed counts from 1 and the tree from 0, so the tree of size
//!   `n` holds exactly the entries with seq `1..=n`: a checkpoint's size is the seq of the last
//!   entry it covers.
//! - **Leaf data = the canonical envelope bytes exactly as the feed serves them.** A node hashes
//!   what it received, never a re-encoding of it, so the hub and every node hash the same bytes
//!   without agreeing on a serialiser. This crate treats them as opaque bytes.
//! - **Hashing is RFC 6962:** leaf hash = SHA-256(0x00 ‖ data), interior node =
//!   SHA-256(0x01 ‖ left ‖ right). The prefixes keep a leaf from passing as an interior node.
//! - **Checkpoints** are the three C2SP lines (origin, decimal size, base64 root), signed as a
//!   signed note with Ed25519. The origin is the log's key name, and [`open_checkpoint`]
//!   insists on it, so a checkpoint cannot be replayed as another log's.
//! - **Key IDs** are SHA-256(name ‖ 0x0A ‖ type ‖ 32-byte key)\[:4\], type 0x01 for the log and
//!   0x04 for witness cosignatures; verifier keys read `name+hex(key ID)+base64(type ‖ key)`.
//!
//! ## Who uses what
//! - The **hub** appends leaves with [`HashBatch`] over its stored hashes (a [`HashReader`] it
//!   implements), signs checkpoints of [`HashBatch::root`] with [`LogSigner`], serves proofs
//!   ([`inclusion_proof`], [`consistency_proof`]), tiles ([`TilePath`], [`HashTile::data`],
//!   [`EntryBundle::bundle`]) and the checkpoint with the cosignatures it collected
//!   ([`attach_signatures`]).
//! - A **node** opens checkpoints with [`open_checkpoint`], checks cosignatures with
//!   [`verify_cosignature`], checks proofs with [`verify_inclusion`] and
//!   [`verify_consistency`], and recomputes the tree from the feed with a [`Frontier`],
//!   comparing its root with the checkpoint of the same size.
//! - A **witness** checks consistency, then cosigns with [`Witness::cosign`].

mod checkpoint;
mod cosignature;
mod frontier;
mod note;
mod storage;
mod tile;
mod verify;

pub use checkpoint::{Checkpoint, CheckpointError, LogSigner, LogVerifier, open_checkpoint};
pub use cosignature::{Witness, WitnessVerifier, verify_cosignature};
pub use frontier::{Frontier, FrontierError};
pub use note::{attach_signatures, split_note};
pub use storage::{
    Hash, HashBatch, HashReader, MAX_TREE_SIZE, StoreError, consistency_proof, inclusion_proof,
    leaf_hash, stored_hashes, stored_tree_size, tree_hash,
};
pub use tile::{EntryBundle, HashTile, TileError, TilePath};
pub use verify::{VerifyError, verify_consistency, verify_inclusion};
