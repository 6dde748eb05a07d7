//! A structural check of an OLE2 compound file (the container of an `.xls` workbook) before
//! calamine reads it.
//!
//! calamine 0.30 trusts the container's sector numbers and sizes: a damaged or hostile `.xls`
//! can make it allocate terabytes (which aborts the process, beyond `catch_unwind`) or follow a
//! sector chain in a cycle forever. This check follows every chain calamine would follow and
//! refuses a file in which any sector number points outside the file, any chain does not end, or
//! any stream is larger than the file. It then measures each sheet's cells in the workbook
//! stream, as calamine holds a sheet as one dense array (see [`Extent`]).

use super::table::{Extent, MAX_SHEET_CELLS};

/// The first sector-number value with a special meaning (free, end of chain, FAT, DIFAT).
const RESERVED_SECTORS: u32 = 0xFFFF_FFFA;
const DIFAT_SECTOR: u32 = 0xFFFF_FFFC;
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
const HEADER_BYTES: usize = 512;
const MINI_SECTOR_BYTES: usize = 64;
/// Streams shorter than this live in the mini stream.
const MINI_STREAM_CUTOFF: usize = 4096;
const DIRECTORY_ENTRY_BYTES: usize = 128;
const STREAM_ENTRY: u8 = 2;
/// BIFF records that put a value in one cell (row in bytes 0–1, column in bytes 2–3): FORMULA,
/// LABELSST, NUMBER, LABEL, BOOLERR, RK, RSTRING.
const CELL_RECORDS: [u16; 7] = [0x0006, 0x00FD, 0x0203, 0x0204, 0x0205, 0x027E, 0x00D6];
/// MULRK: values in one row, first column in bytes 2–3, last column in the last two bytes.
const MULTIPLE_CELLS: u16 = 0x00BD;
/// DIMENSIONS: the used range a sheet declares.
const DIMENSIONS: u16 = 0x0200;
/// BOF: the start of the globals or of one sheet.
const BEGINNING_OF_SUBSTREAM: u16 = 0x0809;

/// Checks the sector structure of the compound file in `bytes`.
pub fn check(bytes: &[u8]) -> Result<(), String> {
    let header = bytes.get(..HEADER_BYTES).ok_or("shorter than its header")?;
    let sector_bytes = match u16_at(header, 30) {
        9 => 512,
        12 => 4096,
        shift => return Err(format!("sector shift {shift} is neither 9 nor 12")),
    };
    let file = Sectors {
        data: bytes.get(sector_bytes..).unwrap_or_default(),
        size: sector_bytes,
    };
    let count = file.count();
    for (offset, what) in [(40, "directory"), (44, "FAT"), (64, "mini FAT")] {
        if u32_at(header, offset) as usize > count {
            return Err(format!(
                "the header counts more {what} sectors than the file has"
            ));
        }
    }
    let fat = file_allocation_table(header, &file)?;
    let directory = file.chain(u32_at(header, 48), &fat, count, "directory")?;
    let entries: Vec<&[u8]> = directory.chunks_exact(DIRECTORY_ENTRY_BYTES).collect();
    let root = entries.first().ok_or("no root directory entry")?;
    // Like calamine, read the mini stream and its FAT only when the header counts mini FAT
    // sectors; without them every short stream must be empty.
    let (mini_fat, mini_stream) = if u32_at(header, 64) > 0 {
        let mini_fat_bytes = file.chain(u32_at(header, 60), &fat, count, "mini FAT")?;
        let stream_bytes = stream_length(root, sector_bytes, bytes.len())?;
        let mut mini_stream = file.chain(u32_at(root, 116), &fat, count, "mini stream")?;
        mini_stream.truncate(stream_bytes);
        (words(&mini_fat_bytes).collect(), mini_stream)
    } else {
        (Vec::new(), Vec::new())
    };
    let mini = Sectors {
        data: &mini_stream,
        size: MINI_SECTOR_BYTES,
    };
    let mini_sectors = mini.count();
    // calamine looks streams up by name alone, so the workbook entry is checked whatever its type.
    let streams = entries
        .iter()
        .skip(1)
        .filter(|e| e.get(66) == Some(&STREAM_ENTRY) || is_workbook(e));
    for entry in streams {
        let length = stream_length(entry, sector_bytes, bytes.len())?;
        let start = u32_at(entry, 116);
        let (sectors, table, limit) = if length < MINI_STREAM_CUTOFF {
            (&mini, mini_fat.as_slice(), mini_sectors)
        } else {
            (&file, fat.as_slice(), count)
        };
        follow(start, table, limit, "a stream")?;
        if is_workbook(entry) {
            let mut stream = sectors.chain(start, table, limit, "the workbook")?;
            stream.truncate(length);
            check_cell_extent(&stream)?;
        }
    }
    Ok(())
}

/// calamine reserves room for the rows × columns a DIMENSIONS record declares, computed in
/// wrapping 32-bit arithmetic as it does (a last row before the first wraps to 4 billion).
fn check_dimensions(data: &[u8]) -> Result<(), String> {
    let (first_row, last_row, first_column, last_column) = match data.len() {
        10 => (
            u32::from(u16_at(data, 0)),
            u32::from(u16_at(data, 2)),
            u32::from(u16_at(data, 4)),
            u32::from(u16_at(data, 6)),
        ),
        14 => (
            u32_at(data, 0),
            u32_at(data, 4),
            u32::from(u16_at(data, 8)),
            u32::from(u16_at(data, 10)),
        ),
        _ => return Ok(()),
    };
    if last_row == 0 || last_column == 0 {
        return Ok(());
    }
    let first_column = if first_column > 0xFF || last_column < first_column {
        0
    } else {
        first_column
    };
    let span = |first: u32, last: u32| u64::from((last - 1).wrapping_sub(first).wrapping_add(1));
    let cells = span(first_row, last_row) * span(first_column, last_column);
    if cells > MAX_SHEET_CELLS {
        return Err(format!(
            "a sheet declares {cells} cells; at most {MAX_SHEET_CELLS} are read"
        ));
    }
    Ok(())
}

/// Whether a directory entry is the workbook stream ("Workbook", or "Book" before Excel 97).
fn is_workbook(entry: &[u8]) -> bool {
    let units: Vec<u16> = entry
        .get(..64)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]))
        .take_while(|&u| u != 0)
        .collect();
    let name = String::from_utf16_lossy(&units);
    name == "Workbook" || name == "Book"
}

/// Measures the cells of each sheet in the workbook's BIFF records (see [`Extent`]).
fn check_cell_extent(stream: &[u8]) -> Result<(), String> {
    let mut extent = Extent::default();
    let mut at = 0;
    while let Some(header) = stream.get(at..at + 4) {
        let kind = u16_at(header, 0);
        let length = usize::from(u16_at(header, 2));
        let data = stream.get(at + 4..at + 4 + length).unwrap_or_default();
        at += 4 + length;
        let row = u32::from(u16_at(data, 0));
        match kind {
            BEGINNING_OF_SUBSTREAM => {
                extent.check()?;
                extent = Extent::default();
            }
            DIMENSIONS => check_dimensions(data)?,
            MULTIPLE_CELLS if data.len() >= 6 => {
                extent.include((row, u32::from(u16_at(data, 2))));
                extent.include((row, u32::from(u16_at(data, data.len() - 2))));
            }
            kind if CELL_RECORDS.contains(&kind) && data.len() >= 4 => {
                extent.include((row, u32::from(u16_at(data, 2))));
            }
            _ => {}
        }
    }
    extent.check()
}

/// The sectors after the header, numbered from 0.
struct Sectors<'a> {
    data: &'a [u8],
    size: usize,
}

impl<'a> Sectors<'a> {
    fn count(&self) -> usize {
        self.data.len().div_ceil(self.size)
    }

    fn get(&self, id: u32) -> Result<&'a [u8], String> {
        let start = (id as usize)
            .checked_mul(self.size)
            .ok_or("sector number overflows")?;
        let end = (start + self.size).min(self.data.len());
        self.data
            .get(start..end)
            .ok_or_else(|| format!("sector {id} lies outside the file"))
    }

    fn chain(&self, start: u32, fat: &[u32], count: usize, what: &str) -> Result<Vec<u8>, String> {
        let ids = follow(start, fat, count, what)?;
        let mut bytes = Vec::new();
        for id in ids {
            bytes.extend_from_slice(self.get(id)?);
        }
        Ok(bytes)
    }
}

/// The FAT, from the sectors the DIFAT (in the header, then in its own chain) lists.
fn file_allocation_table(header: &[u8], file: &Sectors) -> Result<Vec<u32>, String> {
    let count = file.count();
    let mut difat: Vec<u32> = words(header.get(76..).unwrap_or_default()).collect();
    let mut next = u32_at(header, 68);
    let mut steps = 0;
    while next < RESERVED_SECTORS {
        steps += 1;
        if next as usize >= count || steps > count {
            return Err("the DIFAT chain leaves the file or loops".into());
        }
        let sector = file.get(next)?;
        let entries: Vec<u32> = words(sector).collect();
        let (last, listed) = entries.split_last().ok_or("an empty DIFAT sector")?;
        difat.extend_from_slice(listed);
        next = *last;
    }
    let mut fat = Vec::new();
    for id in difat.into_iter().filter(|id| *id < DIFAT_SECTOR) {
        if id as usize >= count {
            return Err(format!("FAT sector {id} lies outside the file"));
        }
        fat.extend(words(file.get(id)?));
    }
    Ok(fat)
}

/// The sector numbers of a chain; every one must be below `count` and listed in `table`, and
/// the chain must end within `count` steps.
fn follow(start: u32, table: &[u32], count: usize, what: &str) -> Result<Vec<u32>, String> {
    let mut ids = Vec::new();
    let mut id = start;
    while id != END_OF_CHAIN {
        let index = id as usize;
        if index >= count || index >= table.len() || ids.len() >= count {
            return Err(format!("the chain of {what} leaves the file or loops"));
        }
        ids.push(id);
        id = table[index];
    }
    Ok(ids)
}

fn stream_length(entry: &[u8], sector_bytes: usize, file_bytes: usize) -> Result<usize, String> {
    let length = if sector_bytes == 512 {
        u64::from(u32_at(entry, 120))
    } else {
        entry
            .get(120..128)
            .and_then(|b| b.try_into().ok())
            .map_or(u64::MAX, u64::from_le_bytes)
    };
    usize::try_from(length)
        .ok()
        .filter(|&l| l <= file_bytes)
        .ok_or_else(|| "a stream is larger than the file".into())
}

fn words(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    bytes
        .get(offset..)
        .map_or(0, |b| words(b).next().unwrap_or(0))
}

fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    bytes
        .get(offset..offset + 2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/nrii-equipment-template.xls"
        );
        std::fs::read(path).unwrap_or_default()
    }

    #[test]
    fn accepts_the_real_template() {
        assert_eq!(check(&template()), Ok(()));
    }

    #[test]
    fn refuses_sector_numbers_outside_the_file_and_loops() {
        let mut far = template();
        far[48..52].copy_from_slice(&0xFFFF_0000u32.to_le_bytes()); // directory start
        assert!(check(&far).is_err());
        let mut counted = template();
        counted[44..48].copy_from_slice(&1_000_000u32.to_le_bytes()); // FAT sectors
        assert!(check(&counted).is_err());
        assert!(check(&template()[..600]).is_err());
        assert!(check(b"short").is_err());
    }
}
