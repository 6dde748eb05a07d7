//! The properties every [`KvStore`] backend must have, as one suite a backend's tests run:
//!
//! ```
//! yiqi_store::conformance::run_all(|| Box::new(yiqi_store::MemoryStore::new()));
//! ```
//!
//! Each property gets a fresh, empty store from `make`. A property that does not hold panics
//! with the property's name and what differed, as a test assertion does. What only a durable
//! backend can show (surviving a reopen, refusing a second opener, reporting an unusable folder)
//! is [`run_on_disk`], over stores a backend opens in folders.

use crate::{KvStore, StorageError, WriteBatch};
use std::path::Path;

/// Opens a durable store in a folder (creating it), as a backend's `open` does.
pub type Open<'a> = &'a dyn Fn(&Path) -> Result<Box<dyn KvStore>, StorageError>;

/// Runs every property, the durable ones included, on a disk backend: [`run_all`] over fresh
/// stores in numbered folders under `dir`, then [`run_on_disk`].
pub fn run_all_on_disk(dir: &Path, open: Open) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    run_all(|| {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        open(&dir.join(format!("fresh-{n}"))).unwrap()
    });
    run_on_disk(dir, open);
}

/// Runs the durable properties with stores opened by `open` in folders under `dir`.
pub fn run_on_disk(dir: &Path, open: Open) {
    flushed_writes_survive_a_reopen(&dir.join("reopen"), open);
    a_second_opener_is_locked_out_and_the_first_keeps_working(&dir.join("lock"), open);
    a_folder_that_cannot_be_created_is_an_io_error(dir, open);
}

/// What was flushed is there after the store is closed and opened again.
pub fn flushed_writes_survive_a_reopen(folder: &Path, open: Open) {
    {
        let store = open(folder).unwrap();
        let mut batch = WriteBatch::default();
        batch.put(b"a/1".to_vec(), b"uno".to_vec());
        store.apply(batch).unwrap();
        store.flush().unwrap();
    }
    let reopened = open(folder).unwrap();
    assert_eq!(reopened.get(b"a/1").unwrap().as_deref(), Some(&b"uno"[..]));
    assert!(reopened.size_on_disk() > 0, "a durable store occupies disk");
}

/// One process per data folder: a second opener gets `Locked`, naming the folder and saying so.
pub fn a_second_opener_is_locked_out_and_the_first_keeps_working(folder: &Path, open: Open) {
    let first = open(folder).unwrap();
    let second = open(folder).err();
    assert!(
        matches!(&second, Some(StorageError::Locked { path }) if path == folder),
        "a second opener is locked out: {second:?}"
    );
    let message = second.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("in use by another process"), "{message}");
    first.flush().unwrap();
    drop(first);
    open(folder).unwrap();
}

/// A folder under a plain file cannot be made: an I/O error, not a panic or `Other`.
pub fn a_folder_that_cannot_be_created_is_an_io_error(dir: &Path, open: Open) {
    let file = dir.join("a-file");
    std::fs::write(&file, b"not a folder").unwrap();
    let error = open(&file.join("store")).err();
    assert!(matches!(error, Some(StorageError::Io { .. })), "{error:?}");
}

/// Runs every property against fresh stores from `make`.
pub fn run_all(make: impl Fn() -> Box<dyn KvStore>) {
    point_reads_and_atomic_batches(make().as_ref());
    later_writes_in_a_batch_win(make().as_ref());
    ordered_scans_and_last(make().as_ref());
    empty_and_inverted_ranges_are_empty(make().as_ref());
    any_byte_is_a_key_or_value(make().as_ref());
}

/// Puts and deletes of one batch become visible together; a later batch overwrites.
pub fn point_reads_and_atomic_batches(store: &dyn KvStore) {
    assert_eq!(
        store.get(b"a/1").unwrap(),
        None,
        "an empty store has no a/1"
    );
    let mut batch = WriteBatch::default();
    batch.put(b"a/1".to_vec(), b"one".to_vec());
    batch.put(b"a/2".to_vec(), b"two".to_vec());
    batch.put(b"a/3".to_vec(), b"three".to_vec());
    batch.delete(b"a/3".to_vec());
    store.apply(batch).unwrap();
    store.flush().unwrap();
    assert_eq!(store.get(b"a/1").unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(store.get(b"a/2").unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(
        store.get(b"a/3").unwrap(),
        None,
        "put then delete in one batch"
    );
    let mut overwrite = WriteBatch::default();
    overwrite.put(b"a/1".to_vec(), b"uno".to_vec());
    overwrite.delete(b"a/2".to_vec());
    store.apply(overwrite).unwrap();
    assert_eq!(store.get(b"a/1").unwrap().as_deref(), Some(&b"uno"[..]));
    assert_eq!(store.get(b"a/2").unwrap(), None, "deleted by a later batch");
    store.apply(WriteBatch::default()).unwrap();
    store.flush().unwrap();
    store.flush().unwrap();
}

/// Within one batch, the last write to a key is the one that stays.
pub fn later_writes_in_a_batch_win(store: &dyn KvStore) {
    let mut batch = WriteBatch::default();
    batch.delete(b"k".to_vec());
    batch.put(b"k".to_vec(), b"first".to_vec());
    batch.put(b"k".to_vec(), b"second".to_vec());
    store.apply(batch).unwrap();
    assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"second"[..]));
}

/// Scans return keys in byte order within `[start, end)`, at most `limit` of them; `last` is the
/// greatest key in the range.
pub fn ordered_scans_and_last(store: &dyn KvStore) {
    let key = |i: u64| [b"l/".as_slice(), &i.to_be_bytes()].concat();
    let mut batch = WriteBatch::default();
    for i in [5u64, 1, 300, 2, 70_000] {
        batch.put(key(i), i.to_string().into());
    }
    batch.put(b"m".to_vec(), b"outside".to_vec());
    batch.put(b"l".to_vec(), b"before".to_vec());
    store.apply(batch).unwrap();
    let values = |pairs: Vec<crate::Pair>| -> Vec<String> {
        pairs
            .into_iter()
            .map(|(_, v)| String::from_utf8(v).unwrap())
            .collect()
    };
    assert_eq!(
        values(store.scan(b"l/", b"l0", 100).unwrap()),
        ["1", "2", "5", "300", "70000"]
    );
    assert_eq!(values(store.scan(b"l/", b"l0", 2).unwrap()), ["1", "2"]);
    assert!(store.scan(b"l/", b"l0", 0).unwrap().is_empty(), "limit 0");
    assert_eq!(
        values(store.scan(&key(3), b"l0", 100).unwrap()),
        ["5", "300", "70000"],
        "start is inclusive"
    );
    assert_eq!(
        values(store.scan(b"l/", &key(300), 100).unwrap()),
        ["1", "2", "5"],
        "end is exclusive"
    );
    assert_eq!(
        store.last(b"l/", b"l0").unwrap(),
        Some((key(70_000), b"70000".to_vec()))
    );
    assert_eq!(
        store.last(b"l/", &key(300)).unwrap().map(|p| p.1),
        Some(b"5".to_vec())
    );
    assert_eq!(store.last(b"x/", b"x0").unwrap(), None);
}

/// A range whose start is not below its end holds nothing (and is not an error).
pub fn empty_and_inverted_ranges_are_empty(store: &dyn KvStore) {
    let mut batch = WriteBatch::default();
    batch.put(b"b".to_vec(), b"1".to_vec());
    store.apply(batch).unwrap();
    assert!(
        store.scan(b"b", b"b", 10).unwrap().is_empty(),
        "start == end"
    );
    assert!(
        store.scan(b"c", b"a", 10).unwrap().is_empty(),
        "start > end"
    );
    assert_eq!(store.last(b"b", b"b").unwrap(), None);
    assert_eq!(store.last(b"c", b"a").unwrap(), None);
}

/// Keys and values are arbitrary bytes: empty, 0x00 and 0xFF included.
pub fn any_byte_is_a_key_or_value(store: &dyn KvStore) {
    let mut batch = WriteBatch::default();
    batch.put(vec![0xFF, 0x00], Vec::new());
    batch.put(vec![0x00], vec![0xFF; 3]);
    batch.put(Vec::new(), b"empty key".to_vec());
    store.apply(batch).unwrap();
    assert_eq!(store.get(&[0xFF, 0x00]).unwrap(), Some(Vec::new()));
    assert_eq!(store.get(&[]).unwrap().as_deref(), Some(&b"empty key"[..]));
    let keys: Vec<Vec<u8>> = store
        .scan(&[], &[0xFF, 0xFF], 10)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, [vec![], vec![0x00], vec![0xFF, 0x00]]);
}
