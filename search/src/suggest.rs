//! "Did you mean": for a query that finds nothing, the closest spellings the index knows.
//!
//! Each word of the query that finds nothing on its own is compared (optimal string alignment:
//! Levenshtein with adjacent transpositions, over characters, so Chinese and Latin alike) with the words of the names and of the organisation
//! and place fields, and with the thesaurus terms; the closest within a distance that grows with
//! the word's length win, the more frequent first. This reads the term dictionaries in full, so
//! it runs only when a search found nothing.

use std::collections::BTreeMap;

use tantivy::collector::Count;
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

use crate::fields::Fields;
use crate::params::SearchQuery;
use crate::query;
use crate::thesaurus::{self, normalize};

/// Suggested queries at most.
pub const MAX_SUGGESTIONS: usize = 3;

/// The largest edit distance accepted for a word of `chars` characters: one typo per four
/// characters, at least one; Chinese words are short, so one character for two to four.
fn max_distance(chars: usize) -> usize {
    (chars / 4).clamp(1, 3)
}

/// Corrected versions of `q` (every word that finds nothing replaced by a close known word),
/// best first; empty when no word is both unknown and close to a known one.
pub fn suggestions(fields: &Fields, searcher: &Searcher, q: &str) -> Vec<String> {
    let normalized = normalize(q);
    let words: Vec<&str> = normalized.split_whitespace().collect();
    let mut candidates_by_word: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (i, word) in words.iter().enumerate() {
        if finds_something(fields, searcher, word) {
            continue;
        }
        let closest = closest(fields, searcher, word);
        if closest.is_empty() {
            return Vec::new();
        }
        candidates_by_word.insert(i, closest);
    }
    if candidates_by_word.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for rank in 0..MAX_SUGGESTIONS {
        let corrected: Vec<&str> = words
            .iter()
            .enumerate()
            .map(|(i, word)| match candidates_by_word.get(&i) {
                Some(candidates) => candidates[rank.min(candidates.len() - 1)].as_str(),
                None => word,
            })
            .collect();
        let corrected = corrected.join(" ");
        if !out.contains(&corrected) {
            out.push(corrected);
        }
    }
    out
}

/// Whether the word alone (no filters) matches a record.
fn finds_something(fields: &Fields, searcher: &Searcher, word: &str) -> bool {
    let alone = SearchQuery {
        q: word.to_string(),
        ..SearchQuery::default()
    };
    let known_name_word = |w: &str| {
        let term = Term::from_field_text(fields.words_name, w);
        searcher.doc_freq(&term).is_ok_and(|n| n > 0)
    };
    let (built, _) = query::build(fields, &alone, &known_name_word);
    searcher.search(built.as_ref(), &Count).is_ok_and(|n| n > 0)
}

/// The known words within the accepted distance of `word`, closest and then most frequent first.
fn closest(fields: &Fields, searcher: &Searcher, word: &str) -> Vec<String> {
    let length = word.chars().count();
    let limit = max_distance(length);
    let mut found: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let mut consider = |candidate: &str, frequency: u64| {
        // Lengths further apart than the limit cannot be within it: most terms stop here.
        if candidate == word || candidate.chars().count().abs_diff(length) > limit {
            return;
        }
        let distance = strsim::osa_distance(word, candidate);
        if distance <= limit {
            let entry = found.entry(candidate.to_string()).or_insert((distance, 0));
            entry.1 += frequency;
        }
    };
    for field in [fields.words_name, fields.words_org] {
        for_each_term(searcher, field, &mut consider);
    }
    for term in thesaurus::shipped().terms() {
        consider(term, 1);
    }
    let mut ranked: Vec<(String, (usize, u64))> = found.into_iter().collect();
    ranked.sort_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)));
    ranked
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(w, _)| w)
        .collect()
}

/// Every term of a text field, with its document frequency in each segment.
fn for_each_term(searcher: &Searcher, field: Field, each: &mut impl FnMut(&str, u64)) {
    for segment in searcher.segment_readers() {
        let Ok(index) = segment.inverted_index(field) else {
            continue;
        };
        let Ok(mut terms) = index.terms().stream() else {
            continue;
        };
        while terms.advance() {
            if let Ok(text) = std::str::from_utf8(terms.key()) {
                each(text, u64::from(terms.value().doc_freq));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_grows_with_length() {
        assert_eq!(max_distance(2), 1);
        assert_eq!(max_distance(12), 3);
        assert_eq!(strsim::osa_distance("spectrometre", "spectrometer"), 1);
    }
}
