//! The repository's sets: `region:{code}` for each of the 34 regions, `kind:{kind}` for each
//! kind of record, `category:{top}` for each top-level class of the national classification and
//! `category:{top}:{middle}` for each middle-level class under it. The list does not depend on
//! what is stored, so it needs no paging.

use yiqi_schema::{classification, regions};

/// The kinds of record the hub's log holds.
pub const KINDS: [(&str, &str); 2] = [
    ("instrument", "Research instruments (大型科研仪器)"),
    ("key", "Regional signing keys (区域签名密钥)"),
];

/// Every set as (setSpec, setName).
pub fn all() -> Vec<(String, String)> {
    let regions = regions::REGIONS
        .iter()
        .map(|(code, zh, en)| (format!("region:{code}"), format!("{zh} ({en})")));
    let kinds = KINDS
        .iter()
        .map(|(kind, name)| (format!("kind:{kind}"), (*name).to_owned()));
    let categories = classification::all()
        .iter()
        .filter(|class| class.level <= 2)
        .map(|class| {
            let spec = match class.parent {
                Some(top) => format!("category:{top}:{}", class.code),
                None => format!("category:{}", class.code),
            };
            (spec, class.name_zh.to_owned())
        });
    regions.chain(kinds).chain(categories).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_cover_regions_kinds_and_two_class_levels() {
        let sets = all();
        let specs: Vec<&str> = sets.iter().map(|(s, _)| s.as_str()).collect();
        assert!(specs.contains(&"region:CN-BJ"));
        assert!(specs.contains(&"kind:instrument"));
        assert!(specs.contains(&"category:010000"));
        assert!(specs.contains(&"category:010000:010100"));
        assert!(!specs.iter().any(|s| s.ends_with("010101")));
        assert_eq!(
            specs.len(),
            34 + 2
                + classification::all()
                    .iter()
                    .filter(|c| c.level <= 2)
                    .count()
        );
    }
}
