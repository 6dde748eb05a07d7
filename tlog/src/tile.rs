//! Tiles, c2sp.org/tlog-tiles: the tree and the entries as static, cacheable resources.
//!
//! Instead of answering proof requests, a tiled log serves the tree itself in pieces: hash tiles
//! of 256 consecutive hashes at one level (level 0 holds leaf hashes; each hash at level `L`
//! is the root of 256^L leaves), and entry bundles of 256 consecutive entries. Clients compute
//! any proof from them, and since a full tile never changes it can be cached forever.
//!
//! Paths here are what follows `<prefix>/tile/`: `<L>/<N>[.p/<W>]` for hash tiles,
//! `entries/<N>[.p/<W>]` for bundles, with `N` in 3-digit groups (`x001/x234/067`).
//! `tlog_tiles` reads the hashes of a tile; its own path parser is for Go's sumdb layout (which
//! has the tile height in the path) and panics on some inputs, so the C2SP paths are parsed here.

use std::fmt;
use std::ops::Range;

use crate::storage::{Adapter, HashReader, MAX_TREE_SIZE, StoreError};

/// Hashes or entries in a full tile (2^8: c2sp.org fixes the tile height at 8).
const FULL_WIDTH: u16 = 256;
const HEIGHT: u8 = 8;

/// What can go wrong serving tiles.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// The path is not a canonical C2SP tile path.
    #[error("malformed tile path {path:?}: {problem}")]
    MalformedPath { path: String, problem: &'static str },
    /// The tile needs leaves beyond the tree size.
    #[error("tile {tile} is not inside the tree of size {size}")]
    NotInTree { tile: String, size: u64 },
    /// An entry longer than the 2-byte length prefix allows.
    #[error("entry {index} is {len} bytes; bundles hold entries of at most 65535 bytes")]
    EntryTooLong { index: usize, len: usize },
    /// A bundle was given a different number of entries than its width.
    #[error("bundle {tile} holds {want} entries, {got} were given")]
    WrongEntryCount { tile: String, want: u16, got: usize },
    /// Reading the stored hashes failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A parsed tile path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TilePath {
    /// `<L>/<N>[.p/<W>]`
    Hashes(HashTile),
    /// `entries/<N>[.p/<W>]`
    Entries(EntryBundle),
}

/// Hash tile `N` of level `L`, `W` hashes wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashTile {
    level: u8,
    index: u64,
    width: u16,
}

/// Entry bundle `N`, `W` entries wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryBundle {
    index: u64,
    width: u16,
}

impl TilePath {
    /// Parses the part of a tile URL after `tile/`. Only the canonical form is accepted (no
    /// leading zeros, no `x000` group in front, no `.p/256`), so each tile has one path.
    pub fn parse(path: &str) -> Result<Self, TileError> {
        let malformed = |problem| TileError::MalformedPath {
            path: path.to_owned(),
            problem,
        };
        if let Some(rest) = path.strip_prefix("entries/") {
            let (index, width) = parse_index_width(rest).map_err(malformed)?;
            return Ok(Self::Entries(EntryBundle { index, width }));
        }
        let (level, rest) = path.split_once('/').ok_or(malformed("no level"))?;
        let level = parse_decimal(level, 63)
            .and_then(|level| u8::try_from(level).ok())
            .ok_or(malformed("level is not 0 to 63"))?;
        let (index, width) = parse_index_width(rest).map_err(malformed)?;
        Ok(Self::Hashes(HashTile {
            level,
            index,
            width,
        }))
    }
}

impl std::str::FromStr for TilePath {
    type Err = TileError;

    fn from_str(path: &str) -> Result<Self, TileError> {
        Self::parse(path)
    }
}

impl fmt::Display for TilePath {
    /// The canonical path, which [`TilePath::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hashes(tile) => write!(f, "{tile}"),
            Self::Entries(bundle) => write!(f, "{bundle}"),
        }
    }
}

impl HashTile {
    /// The level: 0 for leaf hashes.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The tile's index within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The number of hashes, 1 to 256 (256: a full tile).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// The tile's bytes (its hashes, 32 bytes each) in the tree of `tree_size` leaves, read
    /// from the stored hashes. Fails with [`TileError::NotInTree`] if the tree is too small to
    /// have all of them: the hub must not serve a tile before the tree has grown over it.
    pub fn data<R: HashReader>(&self, tree_size: u64, reader: &R) -> Result<Vec<u8>, TileError> {
        self.check_in_tree(tree_size)?;
        let tile =
            tlog_tiles::Tile::new(HEIGHT, self.level, self.index, u32::from(self.width), false);
        Ok(Adapter::run(reader, |r| tile.read_data(r))?)
    }

    /// Checks `(N·256 + W)·256^L <= tree_size`: the last hash of the tile covers leaves up to
    /// there. Overflow means far beyond any tree.
    fn check_in_tree(&self, tree_size: u64) -> Result<(), TileError> {
        let end = 256_u64
            .checked_pow(u32::from(self.level))
            .and_then(|leaves_per_hash| {
                self.index
                    .checked_mul(u64::from(FULL_WIDTH))?
                    .checked_add(u64::from(self.width))?
                    .checked_mul(leaves_per_hash)
            });
        match end {
            Some(end) if end <= tree_size && tree_size <= MAX_TREE_SIZE => Ok(()),
            _ => Err(TileError::NotInTree {
                tile: self.to_string(),
                size: tree_size,
            }),
        }
    }
}

impl fmt::Display for HashTile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.level)?;
        write_index_width(f, self.index, self.width)
    }
}

impl EntryBundle {
    /// The bundle's index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The number of entries, 1 to 256 (256: a full bundle).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// The leaf indexes of the bundle's entries (for yiqi, seq − 1), checked to lie inside the
    /// tree of `tree_size` leaves.
    pub fn leaf_range(&self, tree_size: u64) -> Result<Range<u64>, TileError> {
        let start = self.index.checked_mul(u64::from(FULL_WIDTH));
        let end = start.and_then(|start| start.checked_add(u64::from(self.width)));
        match (start, end) {
            (Some(start), Some(end)) if end <= tree_size => Ok(start..end),
            _ => Err(TileError::NotInTree {
                tile: self.to_string(),
                size: tree_size,
            }),
        }
    }

    /// The bundle's bytes: each entry (the leaf data of [`EntryBundle::leaf_range`], in order)
    /// as a 2-byte big-endian length and the bytes.
    pub fn bundle<E: AsRef<[u8]>>(&self, entries: &[E]) -> Result<Vec<u8>, TileError> {
        if entries.len() != usize::from(self.width) {
            return Err(TileError::WrongEntryCount {
                tile: self.to_string(),
                want: self.width,
                got: entries.len(),
            });
        }
        let mut bytes = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let entry = entry.as_ref();
            let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLong {
                index,
                len: entry.len(),
            })?;
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(entry);
        }
        Ok(bytes)
    }
}

impl fmt::Display for EntryBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("entries/")?;
        write_index_width(f, self.index, self.width)
    }
}

/// Parses `<N>[.p/<W>]`.
fn parse_index_width(path: &str) -> Result<(u64, u16), &'static str> {
    let (groups, width) = match path.split_once(".p/") {
        Some((groups, width)) => (groups, parse_partial_width(width)?),
        None => (path, FULL_WIDTH),
    };
    Ok((parse_index(groups)?, width))
}

fn parse_partial_width(width: &str) -> Result<u16, &'static str> {
    parse_decimal(width, u64::from(FULL_WIDTH - 1))
        .filter(|&w| w >= 1)
        .and_then(|w| u16::try_from(w).ok())
        .ok_or("partial width is not 1 to 255")
}

/// Parses `N` from 3-digit groups, all but the last prefixed with `x`.
fn parse_index(path: &str) -> Result<u64, &'static str> {
    let groups: Vec<&str> = path.split('/').collect();
    let (last, leading) = groups.split_last().ok_or("no index")?;
    if leading.first() == Some(&"x000") {
        return Err("index has a leading x000 group");
    }
    leading
        .iter()
        .map(|group| group.strip_prefix('x').ok_or("index group without 'x'"))
        .chain(std::iter::once(Ok(*last)))
        .try_fold(0_u64, |index, digits| {
            let group = three_digits(digits?)?;
            index
                .checked_mul(1000)
                .and_then(|index| index.checked_add(group))
                .ok_or("index too large")
        })
}

fn three_digits(digits: &str) -> Result<u64, &'static str> {
    if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("index group is not 3 digits");
    }
    digits.parse().map_err(|_| "index group is not 3 digits")
}

/// A decimal number in `0..=max` without leading zeros.
fn parse_decimal(text: &str, max: u64) -> Option<u64> {
    let canonical = text == "0" || (!text.starts_with('0') && !text.is_empty());
    if !canonical || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().filter(|&n| n <= max)
}

fn write_index_width(f: &mut fmt::Formatter<'_>, index: u64, width: u16) -> fmt::Result {
    let mut path = format!("{:03}", index % 1000);
    let mut rest = index / 1000;
    while rest > 0 {
        path = format!("x{:03}/{path}", rest % 1000);
        rest /= 1000;
    }
    f.write_str(&path)?;
    if width != FULL_WIDTH {
        write!(f, ".p/{width}")?;
    }
    Ok(())
}
