//! The instrument thesaurus (`hub/data/thesaurus.toml`): abbreviations, Chinese and English names
//! of the same instrument.
//!
//! The thesaurus is applied when a record is indexed, not when a query runs: every term a record
//! mentions (anywhere in a text, overlapping terms included) gives the record the *tags* of the
//! query terms it answers, and a query naming a term searches for that term's tag — one posting
//! list, however many alternatives the term has. A term's tag stands for its whole set of
//! alternatives: terms with the same alternatives (the terms of one group) share one tag.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use serde::Deserialize;

use super::analysis::fold_width;

/// The thesaurus shipped with the hub.
pub const THESAURUS_TOML: &str = include_str!("../data/thesaurus.toml");

#[derive(Deserialize)]
struct File {
    group: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    terms: Vec<String>,
    #[serde(default)]
    narrower: Vec<String>,
}

/// Terms of the thesaurus, indexed by their first character for queries and in one automaton for
/// records.
pub struct Thesaurus {
    by_first_char: HashMap<char, Vec<Entry>>,
    /// Every term, as patterns in sorted order.
    matcher: Option<AhoCorasick>,
    /// For each pattern: the tags of the query terms whose alternatives include it.
    tags_of_pattern: Vec<Vec<String>>,
    /// For each pattern: its [`exact_tag`].
    exact_tags: Vec<String>,
}

struct Entry {
    /// The normalized term ([`normalize`]).
    term: String,
    /// Everything a query naming this term also searches for, itself included.
    expansions: Vec<String>,
    /// The tag of records mentioning any of the expansions.
    tag: String,
}

/// One thesaurus term found in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Byte range of the term in the normalized query.
    pub start: usize,
    pub end: usize,
    /// The normalized alternatives to search for, the term itself first.
    pub alternatives: Vec<String>,
    /// The tag of the records that mention any of the alternatives.
    pub tag: String,
}

/// Lower-cased, full-width ASCII folded: the form queries and terms are compared in.
pub fn normalize(text: &str) -> String {
    text.chars()
        .map(fold_width)
        .flat_map(char::to_lowercase)
        .collect()
}

/// The shipped thesaurus, parsed once.
pub fn shipped() -> &'static Thesaurus {
    static THESAURUS: OnceLock<Thesaurus> = OnceLock::new();
    THESAURUS.get_or_init(|| {
        Thesaurus::parse(THESAURUS_TOML).unwrap_or_else(|error| {
            tracing::error!(%error, "hub/data/thesaurus.toml does not parse; searching without it");
            Thesaurus::index(HashMap::new()).expect("an empty thesaurus builds")
        })
    })
}

impl Thesaurus {
    /// Parses a thesaurus in the `[[group]] terms = […] narrower = […]` format.
    pub fn parse(toml_text: &str) -> Result<Thesaurus, ThesaurusError> {
        let file: File = toml::from_str(toml_text)?;
        let mut expansions: HashMap<String, Vec<String>> = HashMap::new();
        for group in &file.group {
            let all: Vec<String> = group
                .terms
                .iter()
                .chain(&group.narrower)
                .map(|t| normalize(t))
                .collect();
            for term in &group.terms {
                add_unique(expansions.entry(normalize(term)).or_default(), &all);
            }
            for term in &group.narrower {
                add_unique(
                    expansions.entry(normalize(term)).or_default(),
                    &[normalize(term)],
                );
            }
        }
        Thesaurus::index(expansions)
    }

    fn index(mut expansions: HashMap<String, Vec<String>>) -> Result<Thesaurus, ThesaurusError> {
        expansions.retain(|term, _| !term.is_empty());
        let tags = tags(&expansions);
        let mut tags_of_term: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (term, alternatives) in &expansions {
            for alternative in alternatives.iter().chain([term]) {
                tags_of_term
                    .entry(alternative.clone())
                    .or_default()
                    .insert(tags[term].clone());
            }
        }
        let mut patterns: Vec<String> = tags_of_term.keys().cloned().collect();
        patterns.sort_unstable();
        let tags_of_pattern = patterns
            .iter()
            .map(|p| tags_of_term[p].iter().cloned().collect())
            .collect();
        let exact_tags = patterns.iter().map(|p| exact_tag(p)).collect();
        let matcher = (!patterns.is_empty())
            .then(|| AhoCorasick::new(&patterns))
            .transpose()?;
        let mut by_first_char: HashMap<char, Vec<Entry>> = HashMap::new();
        for (term, mut alternatives) in expansions {
            let Some(first) = term.chars().next() else {
                continue;
            };
            alternatives.retain(|a| *a != term);
            alternatives.insert(0, term.clone());
            by_first_char.entry(first).or_default().push(Entry {
                tag: tags[&term].clone(),
                term,
                expansions: alternatives,
            });
        }
        for entries in by_first_char.values_mut() {
            entries.sort_by(|a, b| {
                b.term
                    .len()
                    .cmp(&a.term.len())
                    .then_with(|| a.term.cmp(&b.term))
            });
        }
        Ok(Thesaurus {
            by_first_char,
            matcher,
            tags_of_pattern,
            exact_tags,
        })
    }

    /// The tags of every term mentioned in a normalized text (terms may overlap: 液相色谱-质谱联用仪
    /// mentions 液相色谱, 色谱, 质谱 and itself) and, with `exact`, the [`exact_tag`] of each.
    pub fn tags_in<'a>(&'a self, text: &str, exact: bool, out: &mut BTreeSet<&'a str>) {
        for pattern in self.mentioned(text) {
            out.extend(self.tags_of_pattern[pattern].iter().map(String::as_str));
            if exact {
                out.insert(&self.exact_tags[pattern]);
            }
        }
    }

    /// The patterns (terms) found in a normalized text, overlapping, at word boundaries.
    fn mentioned(&self, text: &str) -> impl Iterator<Item = usize> {
        let matches = self
            .matcher
            .as_ref()
            .map(|matcher| matcher.find_overlapping_iter(text));
        matches
            .into_iter()
            .flatten()
            .filter(|found| at_word_boundaries(text, found.start(), found.end()))
            .map(|found| found.pattern().as_usize())
    }

    /// The thesaurus terms in a normalized query, leftmost-longest and not overlapping.
    /// Every term a query can name, normalized (for "did you mean").
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.by_first_char
            .values()
            .flatten()
            .map(|entry| entry.term.as_str())
    }

    pub fn find(&self, query: &str) -> Vec<Found> {
        let mut found = Vec::new();
        let mut pos = 0;
        while let Some(c) = query[pos..].chars().next() {
            match self.longest_at(query, pos, c) {
                Some(entry) => {
                    let end = pos + entry.term.len();
                    found.push(Found {
                        start: pos,
                        end,
                        alternatives: entry.expansions.clone(),
                        tag: entry.tag.clone(),
                    });
                    pos = end;
                }
                None => pos += c.len_utf8(),
            }
        }
        found
    }

    fn longest_at(&self, query: &str, pos: usize, first: char) -> Option<&Entry> {
        let entries = self.by_first_char.get(&first)?;
        entries.iter().find(|e| {
            query[pos..].starts_with(&e.term) && at_word_boundaries(query, pos, pos + e.term.len())
        })
    }
}

/// The tag of names that mention `term` itself (not one of its alternatives): the exact-name boost.
pub fn exact_tag(term: &str) -> String {
    format!("={term}")
}

/// The tag of each term: the smallest of the terms with the same set of alternatives.
fn tags(expansions: &HashMap<String, Vec<String>>) -> HashMap<String, String> {
    fn alternatives<'a>(
        expansions: &'a HashMap<String, Vec<String>>,
        term: &'a str,
    ) -> Vec<&'a str> {
        let mut set: Vec<&str> = expansions[term].iter().map(String::as_str).collect();
        set.push(term);
        set.sort_unstable();
        set.dedup();
        set
    }
    let key = |term| alternatives(expansions, term);
    let mut smallest: HashMap<Vec<&str>, &str> = HashMap::new();
    for term in expansions.keys() {
        let tag = smallest.entry(key(term)).or_insert(term);
        if term.as_str() < *tag {
            *tag = term;
        }
    }
    expansions
        .keys()
        .map(|term| (term.clone(), smallest[&key(term)].to_string()))
        .collect()
}

/// A thesaurus file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ThesaurusError {
    #[error("thesaurus: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("thesaurus: {0}")]
    Matcher(#[from] aho_corasick::BuildError),
}

fn add_unique(list: &mut Vec<String>, items: &[String]) {
    for item in items {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

/// A Latin letter or digit at either end of a match must not continue into the query text
/// (TEM is not found in "item"); Chinese characters need no boundary.
fn at_word_boundaries(query: &str, start: usize, end: usize) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric();
    let inner_first = query[start..end].chars().next();
    let inner_last = query[start..end].chars().next_back();
    let before = query[..start].chars().next_back();
    let after = query[end..].chars().next();
    let open = !(inner_first.is_some_and(word) && before.is_some_and(word));
    let close = !(inner_last.is_some_and(word) && after.is_some_and(word));
    open && close
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alternatives(query: &str) -> Vec<Vec<String>> {
        shipped()
            .find(&normalize(query))
            .into_iter()
            .map(|f| f.alternatives)
            .collect()
    }

    #[test]
    fn shipped_thesaurus_parses() {
        Thesaurus::parse(THESAURUS_TOML).unwrap();
    }

    #[test]
    fn required_groups_link_both_languages() {
        let pairs = [
            ("TEM", "透射电子显微镜"),
            ("透射电镜", "tem"),
            ("SEM", "扫描电子显微镜"),
            ("扫描电镜", "扫描电子显微镜"),
            ("NMR", "核磁共振"),
            ("核磁", "nmr"),
            ("XRD", "x射线衍射"),
            ("FTIR", "傅里叶变换红外光谱"),
            ("红外", "ftir"),
            ("ICP-MS", "电感耦合等离子体质谱"),
            ("LC-MS", "液质联用"),
            ("质谱", "gc-ms"),
            ("质谱", "lc-ms"),
            ("HPLC", "液相色谱"),
            ("色谱", "液相色谱"),
            ("AFM", "原子力显微镜"),
            ("confocal", "共聚焦"),
            ("flow cytometer", "流式细胞仪"),
            ("流式", "flow cytometer"),
        ];
        for (query, expected) in pairs {
            let alts = alternatives(query);
            assert_eq!(alts.len(), 1, "{query}: {alts:?}");
            assert_eq!(alts[0][0], normalize(query));
            assert!(
                alts[0].contains(&expected.to_string()),
                "{query} → {alts:?}"
            );
        }
    }

    #[test]
    fn narrower_terms_do_not_lead_back() {
        let lcms = alternatives("LC-MS");
        assert!(!lcms[0].contains(&"质谱".to_string()), "{lcms:?}");
    }

    #[test]
    fn latin_terms_need_word_boundaries() {
        assert!(alternatives("item system").is_empty());
        assert_eq!(alternatives("兰州TEM").len(), 1);
        assert_eq!(alternatives("tem, sem").len(), 2);
    }

    #[test]
    fn longest_term_wins_and_positions_are_reported() {
        let q = normalize("兰州 透射电子显微镜 预约");
        let found = shipped().find(&q);
        assert_eq!(found.len(), 1);
        assert_eq!(&q[found[0].start..found[0].end], "透射电子显微镜");
    }

    fn tags(text: &str) -> BTreeSet<&'static str> {
        let mut out = BTreeSet::new();
        shipped().tags_in(&normalize(text), false, &mut out);
        out
    }

    fn tag(query: &str) -> String {
        shipped().find(&normalize(query)).remove(0).tag
    }

    #[test]
    fn a_record_gets_the_tags_of_every_term_it_mentions() {
        let found = tags("液相色谱-质谱联用仪 Agilent");
        for query in [
            "LC-MS",
            "液质联用",
            "质谱",
            "mass spectrometer",
            "色谱",
            "HPLC",
        ] {
            assert!(found.contains(tag(query).as_str()), "{query}: {found:?}");
        }
        assert!(!found.contains(tag("GC-MS").as_str()), "{found:?}");
        let mut with_exact = BTreeSet::new();
        shipped().tags_in(&normalize("液相色谱仪"), true, &mut with_exact);
        assert!(
            with_exact.contains(exact_tag("液相色谱").as_str()),
            "{with_exact:?}"
        );
        assert!(
            with_exact.contains(exact_tag("色谱").as_str()),
            "{with_exact:?}"
        );
        assert!(!found.iter().any(|t| t.starts_with('=')), "{found:?}");
    }

    #[test]
    fn synonyms_share_a_tag_and_narrower_terms_do_not_lead_back() {
        assert_eq!(tag("TEM"), tag("透射电子显微镜"));
        assert_ne!(tag("LC-MS"), tag("质谱"));
        assert!(tags("高效液相色谱仪").contains(tag("色谱").as_str()));
        assert!(!tags("色谱柱").contains(tag("HPLC").as_str()));
    }

    #[test]
    fn record_tags_respect_latin_word_boundaries() {
        assert!(tags("system item").is_empty());
        assert!(tags("JEM-2100 TEM").contains(tag("透射电镜").as_str()));
    }

    #[test]
    fn custom_thesaurus() {
        let t = Thesaurus::parse("[[group]]\nterms = [\"Foo\", \"富\"]\n").unwrap();
        let found = t.find("a foo b");
        assert_eq!(found[0].alternatives, ["foo", "富"]);
        assert_eq!(found[0].tag, "foo");
        assert!(Thesaurus::parse("group = 3").is_err());
    }
}
