//! The tantivy schema of the national index and the document built from a record.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use tantivy::TantivyDocument;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use yiqi_schema::protocol::labels::SHARING_MODE;
use yiqi_schema::{classification, regions};

use super::analysis::{CHARS, JIEBA};
use super::places;
use super::thesaurus::{self, normalize};

/// Tantivy's analyzer that keeps a value as one token.
const RAW: &str = "raw";

/// Every field of the index, resolved once.
#[derive(Clone)]
pub struct Fields {
    /// `region/local_id`, the unit of replacement and deletion.
    pub id: Field,
    pub region: Field,
    pub local_id: Field,
    pub category: Field,
    /// The category code and every ancestor code: the category filter includes descendants.
    pub category_path: Field,
    /// Region, top-level class and sharing mode packed into one fast u64 for the facets
    /// ([`facet_codes`]).
    pub facet_codes: Field,
    pub province: Field,
    pub city: Field,
    pub sharing: Field,
    pub status: Field,
    /// `original_value_cny`.
    pub value: Field,
    /// `updated_at` in Unix nanoseconds.
    pub updated: Field,
    /// The order of equally ranked hits ([`tie_rank`]).
    pub tie_rank: Field,
    /// Word fields (jieba): names, organisation and place, description.
    pub words_name: Field,
    pub words_org: Field,
    pub words_body: Field,
    /// Characters of the names (names, English names, keywords), with positions: the
    /// abbreviation fallback and the exact-phrase boost.
    pub chars_name: Field,
    /// Thesaurus tags of the terms each field group mentions ([`thesaurus`]).
    pub tags_name: Field,
    pub tags_org: Field,
    pub tags_body: Field,
    /// The record's numbers, exactly ([`identifiers`]).
    pub ids: Field,
    /// Stored texts shown in hits and used for highlights.
    pub name: Field,
    pub name_en: Field,
    pub keywords: Field,
    pub model: Field,
    pub manufacturer: Field,
    pub specs: Field,
    pub functions: Field,
    pub service: Field,
    pub institution: Field,
    pub carrier: Field,
}

/// The fast field of the packed facet codes.
pub const FACET_CODES: &str = "facet_codes";
/// The fast string field of the province facet.
pub const PROVINCE: &str = "province";
/// The packed code of a value a record does not have.
pub const NO_CODE: u64 = 0xFF;

/// The index of a record's region (in `REGIONS`), top-level class (in [`top_level_codes`]) and
/// sharing mode (its schema position), one byte each (bits 0, 8, 16); [`NO_CODE`] when absent.
pub fn facet_codes(record: &Json) -> u64 {
    let index = |found: Option<usize>| found.map_or(NO_CODE, |i| i as u64);
    let region = text(record, "/region");
    let region = index(regions::REGIONS.iter().position(|r| Some(r.0) == region));
    let top = text(record, "/category").and_then(classification::top_level);
    let top = index(top.and_then(|t| top_level_codes().iter().position(|c| *c == t.code)));
    let sharing = index(text(record, "/sharing/mode").and_then(|m| SHARING_MODE.position(m)));
    region | top << 8 | sharing << 16
}

/// The codes of the top-level classes, in classification order.
pub fn top_level_codes() -> &'static [&'static str] {
    static CODES: OnceLock<Vec<&'static str>> = OnceLock::new();
    CODES.get_or_init(|| {
        classification::all()
            .iter()
            .filter(|c| c.parent.is_none())
            .map(|c| c.code)
            .collect()
    })
}

/// Builds the schema and its field handles.
pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = |positions: bool| text_options(JIEBA, positions);
    let fields = Fields {
        id: b.add_text_field("id", STRING),
        region: b.add_text_field("region", STRING | STORED),
        local_id: b.add_text_field("local_id", STORED),
        category: b.add_text_field("category", STORED),
        category_path: b.add_text_field("category_path", STRING),
        facet_codes: b.add_u64_field(FACET_CODES, FAST),
        province: b.add_text_field(PROVINCE, STRING | FAST | STORED),
        city: b.add_text_field("city", STRING | STORED),
        sharing: b.add_text_field("sharing", STRING | STORED),
        status: b.add_text_field("status", STRING | STORED),
        value: b.add_u64_field("value", INDEXED | FAST | STORED),
        updated: b.add_i64_field("updated", FAST),
        tie_rank: b.add_u64_field(TIE_RANK, FAST),
        words_name: b.add_text_field("words_name", words(false)),
        words_org: b.add_text_field("words_org", words(false)),
        words_body: b.add_text_field("words_body", words(false)),
        chars_name: b.add_text_field("chars_name", text_options(CHARS, true)),
        tags_name: b.add_text_field("tags_name", text_options(RAW, false)),
        tags_org: b.add_text_field("tags_org", text_options(RAW, false)),
        tags_body: b.add_text_field("tags_body", text_options(RAW, false)),
        ids: b.add_text_field("ids", text_options(RAW, false)),
        name: b.add_text_field("name", STORED),
        name_en: b.add_text_field("name_en", STORED),
        keywords: b.add_text_field("keywords", STORED),
        model: b.add_text_field("model", STORED),
        manufacturer: b.add_text_field("manufacturer", STORED),
        specs: b.add_text_field("specs", STORED),
        functions: b.add_text_field("functions", STORED),
        service: b.add_text_field("service", STORED),
        institution: b.add_text_field("institution", STORED),
        carrier: b.add_text_field("carrier", STORED),
    };
    (b.build(), fields)
}

fn text_options(analyzer: &str, positions: bool) -> TextOptions {
    let record = if positions {
        IndexRecordOption::WithFreqsAndPositions
    } else {
        IndexRecordOption::WithFreqs
    };
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analyzer)
            .set_index_option(record),
    )
}

/// The numbers a record is searched by exactly, normalized as query text is (lower case, ASCII
/// width): its local id (the platform's instrument number, GS-0001), `region/local_id`, and the
/// platform's other numbers in `ext` (single-word strings such as an asset number).
pub fn identifiers(record: &Json) -> Vec<String> {
    let mut out: Vec<String> = record_id(record).into_iter().collect();
    out.extend(text(record, "/local_id").map(str::to_string));
    let ext = record
        .get("ext")
        .and_then(Json::as_object)
        .into_iter()
        .flatten();
    let numbers = ext.filter_map(|(_, value)| value.as_str()).filter(|value| {
        value.len() <= MAX_IDENTIFIER_BYTES && !value.contains(char::is_whitespace)
    });
    out.extend(numbers.map(str::to_string));
    out.iter().map(|id| normalize(id)).collect()
}

/// Longest `ext` string taken for a number.
const MAX_IDENTIFIER_BYTES: usize = 64;

/// The fast field that orders equally ranked hits.
pub const TIE_RANK: &str = "tie_rank";

/// The order of hits that rank equally (same score, value or update time), highest first: the
/// record's quality points ([`quality`]) in the top byte, then a hash of its id. The hash is
/// stable (the same on the hub and every node, before and after a restart) and unrelated to the
/// region, so a page of equally relevant hits mixes regions instead of listing one region's ids
/// in alphabetical order. One u64 column read per compared hit.
pub fn tie_rank(id: &str, record: &Json) -> u64 {
    let digest = Sha256::digest(id.as_bytes());
    let mut hash = [0u8; 8];
    hash.copy_from_slice(&digest[..8]);
    u64::from(quality(record)) << 56 | u64::from_be_bytes(hash) >> 8
}

/// Static quality points of a record (0–3), what a researcher can act on: shared externally,
/// bookable with a contact, and in recent use (usage reported for the year of its last update or
/// the year before). Taken from the record alone, so every index agrees.
pub fn quality(record: &Json) -> u8 {
    let external = text(record, "/sharing/mode") == Some("external");
    let bookable =
        text(record, "/sharing/booking_url").is_some() && record.get("contact").is_some();
    let updated_year = text(record, "/updated_at")
        .and_then(|t| t.get(..4))
        .and_then(|y| y.parse::<u64>().ok());
    let usage_year = at(record, "/usage/year").and_then(Json::as_u64);
    let recently_used =
        matches!((usage_year, updated_year), (Some(used), Some(updated)) if used + 1 >= updated);
    u8::from(external) + u8::from(bookable) + u8::from(recently_used)
}

/// The id a record is indexed under: `region/local_id`.
pub fn record_id(record: &Json) -> Option<String> {
    let region = record.get("region")?.as_str()?;
    let local_id = record.get("local_id")?.as_str()?;
    Some(format!("{region}/{local_id}"))
}

/// The value at a JSON pointer of the record. The pointers here are constants without `~`
/// escapes, so their tokens are used as they are: serde_json's `pointer` unescapes every token
/// into a new string, which cost the indexer a twentieth of its time.
pub fn at<'a>(record: &'a Json, pointer: &str) -> Option<&'a Json> {
    debug_assert!(!pointer.contains('~'), "an escaped pointer: {pointer}");
    if pointer.is_empty() {
        return Some(record);
    }
    let tokens = pointer.strip_prefix('/')?.split('/');
    tokens
        .into_iter()
        .try_fold(record, |value, token| match value {
            Json::Array(items) => items.get(array_index(token)?),
            _ => value.get(token),
        })
}

/// An array index as RFC 6901 writes it: decimal digits, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    let canonical =
        token.bytes().all(|b| b.is_ascii_digit()) && !token.starts_with('0') || token == "0";
    canonical.then(|| token.parse().ok()).flatten()
}

/// A string at a JSON pointer of the record.
pub fn text<'a>(record: &'a Json, pointer: &str) -> Option<&'a str> {
    at(record, pointer).and_then(Json::as_str)
}

/// A count at a JSON pointer of the record, if it fits 32 bits.
pub fn small(record: &Json, pointer: &str) -> Option<u32> {
    at(record, pointer)
        .and_then(Json::as_u64)
        .and_then(|v| u32::try_from(v).ok())
}

/// The strings of an array member of the record.
pub fn texts<'a>(record: &'a Json, key: &str) -> impl Iterator<Item = &'a str> {
    record
        .get(key)
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
}

/// `updated_at` as Unix nanoseconds.
fn updated_nanos(record: &Json) -> Option<i64> {
    let parsed = OffsetDateTime::parse(text(record, "/updated_at")?, &Rfc3339).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos()).ok()
}

/// The category code and its ancestors, the code first.
pub fn category_path(code: &str) -> Vec<&'static str> {
    let mut path = Vec::new();
    let mut current = classification::get(code);
    while let Some(class) = current {
        path.push(class.code);
        current = class.parent.and_then(classification::get);
    }
    path
}

impl Fields {
    /// The document of an instrument record (not a tombstone).
    pub fn document(&self, id: &str, record: &Json) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, id);
        self.add_keys(&mut doc, record);
        self.add_numbers(&mut doc, record);
        self.add_tie_rank(&mut doc, id, record);
        self.add_stored(&mut doc, record);
        self.add_words(&mut doc, record);
        doc
    }

    fn add_keys(&self, doc: &mut TantivyDocument, record: &Json) {
        let keys = [
            (self.region, "/region"),
            (self.local_id, "/local_id"),
            (self.province, "/location/province"),
            (self.city, "/location/city"),
            (self.sharing, "/sharing/mode"),
            (self.status, "/status"),
        ];
        for (field, pointer) in keys {
            if let Some(value) = text(record, pointer) {
                doc.add_text(field, value);
            }
        }
        doc.add_u64(self.facet_codes, facet_codes(record));
        for id in identifiers(record) {
            doc.add_text(self.ids, id);
        }
        let Some(code) = text(record, "/category") else {
            return;
        };
        doc.add_text(self.category, code);
        for ancestor in category_path(code) {
            doc.add_text(self.category_path, ancestor);
        }
    }

    fn add_numbers(&self, doc: &mut TantivyDocument, record: &Json) {
        if let Some(value) = record.get("original_value_cny").and_then(Json::as_u64) {
            doc.add_u64(self.value, value);
        }
        if let Some(nanos) = updated_nanos(record) {
            doc.add_i64(self.updated, nanos);
        }
    }

    fn add_tie_rank(&self, doc: &mut TantivyDocument, id: &str, record: &Json) {
        doc.add_u64(self.tie_rank, tie_rank(id, record));
    }

    fn add_stored(&self, doc: &mut TantivyDocument, record: &Json) {
        let stored = [
            (self.name, "/name"),
            (self.name_en, "/name_en"),
            (self.model, "/model"),
            (self.manufacturer, "/manufacturer"),
            (self.specs, "/specs"),
            (self.functions, "/functions"),
            (self.service, "/service_content"),
            (self.institution, "/institution/name"),
            (self.carrier, "/carrier/name"),
        ];
        for (field, pointer) in stored {
            if let Some(value) = text(record, pointer) {
                doc.add_text(field, value);
            }
        }
        let keywords: Vec<&str> = texts(record, "keywords").collect();
        if !keywords.is_empty() {
            doc.add_text(self.keywords, keywords.join(" · "));
        }
    }

    fn add_words(&self, doc: &mut TantivyDocument, record: &Json) {
        let names = ["/name", "/name_en"]
            .into_iter()
            .filter_map(|p| text(record, p));
        let names: Vec<&str> = names.chain(texts(record, "keywords")).collect();
        let org_texts = org_texts(record);
        let org: Vec<&str> = org_texts.iter().map(AsRef::as_ref).collect();
        let body: Vec<&str> = ["/specs", "/functions", "/service_content"]
            .into_iter()
            .filter_map(|p| text(record, p))
            .chain(texts(record, "subjects"))
            .collect();
        // Names also carry the exact tag of each term they mention (the exact-name boost).
        for (words, tags, values, exact) in [
            (self.words_name, self.tags_name, &names, true),
            (self.words_org, self.tags_org, &org, false),
            (self.words_body, self.tags_body, &body, false),
        ] {
            let mut found = BTreeSet::new();
            for value in values {
                doc.add_text(words, value);
                thesaurus::shipped().tags_in(&normalize(value), exact, &mut found);
            }
            for tag in found {
                doc.add_text(tags, tag);
            }
        }
        for value in &names {
            doc.add_text(self.chars_name, value);
        }
    }
}

/// Manufacturer, model, institution, carrier, place (also in English and pinyin) and the
/// category's names (with ancestors).
fn org_texts(record: &Json) -> Vec<Cow<'_, str>> {
    let pointers = [
        "/manufacturer",
        "/model",
        "/institution/name",
        "/institution/department",
        "/carrier/name",
        "/location/province",
        "/location/city",
        "/location/district",
    ];
    let mut out: Vec<Cow<'_, str>> = pointers
        .into_iter()
        .filter_map(|p| text(record, p))
        .map(Cow::Borrowed)
        .collect();
    let code = text(record, "/category").unwrap_or_default();
    let names = category_path(code)
        .into_iter()
        .filter_map(classification::get);
    out.extend(names.map(|class| Cow::Borrowed(class.name_zh)));
    out.extend(places::latin_names(record).into_iter().map(Cow::Owned));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use yiqi_schema::testing::sample_record;

    #[test]
    fn pointers_read_what_serde_json_reads() {
        let record = serde_json::json!({"a": {"b": [10, {"c": "x"}]}, "": 1});
        let pointers = [
            "", "/", "a", "/a", "/a/x", "/a/b", "/a/b/0", "/a/b/1/c", "/a/b/2",
        ];
        for pointer in pointers.into_iter().chain(["/a/b/01", "/a/b/+1", "/a/b/"]) {
            assert_eq!(at(&record, pointer), record.pointer(pointer), "{pointer}");
        }
    }

    #[test]
    fn category_path_lists_ancestors() {
        assert_eq!(category_path("010101"), ["010101", "010100", "010000"]);
        assert_eq!(category_path("010000"), ["010000"]);
        assert!(category_path("999999").is_empty());
    }

    #[test]
    fn record_keys() {
        let record = sample_record();
        assert_eq!(record_id(&record).unwrap(), "CN-GS/GS-0001");
        assert!(updated_nanos(&record).unwrap() > 0);
        let org = org_texts(&record);
        assert!(org.iter().any(|t| t == "分析仪器"));
        assert!(org.iter().any(|t| t == "lanzhou") && org.iter().any(|t| t == "Gansu"));
    }
}
