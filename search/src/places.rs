//! English and pinyin names of a record's province and city, indexed beside the Chinese ones so
//! that `Beijing`, `Lanzhou` or `TEM Gansu` find the instruments there.
//!
//! Provinces take their English names from the region table (`Shaanxi`, `Inner Mongolia`,
//! `Chongqing`: conventional spellings a syllable-by-syllable reading would miss); cities take
//! their pinyin from the `pinyin` crate, every reading of a character with several (厦门 is
//! indexed as both `xiamen` and `shamen`), so the right one is always among them.

use pinyin::ToPinyinMulti;
use serde_json::Value as Json;
use yiqi_schema::regions;

use super::fields::text;

/// Administrative suffixes left out of a place's pinyin (兰州市 → lanzhou), longest first.
const SUFFIXES: [&str; 12] = [
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "地区",
    "省",
    "市",
    "盟",
    "县",
    "区",
];

/// Readings of one name at most: a name of polyphonic characters would otherwise multiply.
const MAX_READINGS: usize = 8;

/// The Latin names of the record's province and city, as words for the organisation-and-place
/// field group.
pub fn latin_names(record: &Json) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(province) = text(record, "/location/province") {
        match regions::REGIONS.iter().find(|r| r.1 == province) {
            Some(region) => out.push(region.2.to_string()),
            None => out.extend(readings(province)),
        }
    }
    if let Some(city) = text(record, "/location/city") {
        // A municipality's city is the province again (北京市): its English name is already in.
        if text(record, "/location/province") != Some(city) {
            out.extend(readings(city));
        }
    }
    out
}

/// The toneless pinyin readings of a place name without its administrative suffix, each as one
/// word (lanzhou); none when a character has no reading (not Chinese).
pub fn readings(name: &str) -> Vec<String> {
    let stem = SUFFIXES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix).filter(|s| !s.is_empty()))
        .unwrap_or(name);
    let mut out = vec![String::new()];
    for syllables in stem.to_pinyin_multi() {
        let Some(syllables) = syllables else {
            return Vec::new();
        };
        let mut next = Vec::new();
        for prefix in &out {
            for syllable in syllables {
                if next.len() < MAX_READINGS {
                    next.push(format!("{prefix}{}", syllable.plain()));
                }
            }
        }
        out = next;
    }
    out.retain(|r| !r.is_empty());
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cities_read_in_pinyin_provinces_in_english() {
        assert_eq!(readings("兰州市"), ["lanzhou"]);
        assert!(readings("厦门市").contains(&"xiamen".to_string()));
        assert!(readings("Paris").is_empty());
        let record = json!({"location": {"province": "甘肃省", "city": "兰州市"}});
        assert_eq!(latin_names(&record), ["Gansu", "lanzhou"]);
        let beijing = json!({"location": {"province": "北京市", "city": "北京市"}});
        assert_eq!(latin_names(&beijing), ["Beijing"]);
    }
}
