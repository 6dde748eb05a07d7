//! Turning a [`SearchQuery`] into a tantivy query, built programmatically (no query syntax, so
//! no input can fail to parse).
//!
//! The text is cut into concepts: thesaurus terms (each with its alternatives) and the
//! whitespace-separated words between them. Every concept must match; a concept matches when any
//! of its alternatives does, and scores as the best of them. The typed text must have all its
//! characters somewhere (the fallback for abbreviations, boost 0.3) and scores for the exact
//! phrase in a name (character positions, boost 4) and for all its jieba words across the word
//! fields (names 3, organisation and place 1.5, description 1); a thesaurus synonym matches by
//! its jieba words alone.

use std::collections::HashSet;
use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, EmptyQuery, Occur,
    PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;

use super::analysis::{self, token_texts};
use super::fields::Fields;
use super::params::SearchQuery;
use super::thesaurus::{self, normalize};

const NAME_PHRASE_BOOST: f32 = 4.0;
const NAME_BOOST: f32 = 3.0;
const ORG_BOOST: f32 = 1.5;
const BODY_BOOST: f32 = 1.0;
const CHAR_FALLBACK_BOOST: f32 = 0.3;
const ALTERNATIVES_TIE_BREAKER: f32 = 0.1;

/// The tokens a query searched for, for highlighting.
#[derive(Debug, Default)]
pub struct QueryTerms {
    /// jieba words.
    pub words: HashSet<String>,
    /// Single characters and Latin words.
    pub chars: HashSet<String>,
}

/// The tantivy query of a search and, for a non-empty `q`, the terms to highlight.
pub fn build(fields: &Fields, query: &SearchQuery) -> (Box<dyn Query>, Option<QueryTerms>) {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = filters(fields, query)
        .into_iter()
        .map(|filter| {
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(filter, 0.0)) as Box<dyn Query>,
            )
        })
        .collect();
    let mut terms = None;
    if !query.q.is_empty() {
        let mut found = QueryTerms::default();
        let Some(text) = text_query(fields, &query.q, &mut found) else {
            return (Box::new(EmptyQuery), Some(found));
        };
        clauses.push((Occur::Must, text));
        terms = Some(found);
    }
    if clauses.is_empty() {
        return (Box::new(AllQuery), terms);
    }
    (Box::new(BooleanQuery::new(clauses)), terms)
}

fn filters(fields: &Fields, query: &SearchQuery) -> Vec<Box<dyn Query>> {
    let keys = [
        (fields.region, &query.region),
        (fields.category_path, &query.category),
        (fields.province, &query.province),
        (fields.city, &query.city),
        (fields.sharing, &query.sharing),
        (fields.status, &query.status),
    ];
    let mut out: Vec<Box<dyn Query>> = keys
        .into_iter()
        .filter_map(|(field, value)| value.as_deref().map(|v| key_term(field, v)))
        .collect();
    if query.min_value.is_some() || query.max_value.is_some() {
        let bound = |v: Option<u64>| {
            v.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_u64(fields.value, v))
            })
        };
        out.push(Box::new(RangeQuery::new(
            bound(query.min_value),
            bound(query.max_value),
        )));
    }
    out
}

fn key_term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// The text part of the query: every concept must match. `None` when `q` has nothing searchable.
fn text_query(fields: &Fields, q: &str, terms: &mut QueryTerms) -> Option<Box<dyn Query>> {
    let mut analyzers = Analyzers {
        words: analysis::jieba_query(),
        chars: analysis::chars(),
    };
    let concepts: Vec<Box<dyn Query>> = concepts(&normalize(q))
        .iter()
        .filter_map(|alternatives| {
            let mut queries: Vec<Box<dyn Query>> = alternatives
                .iter()
                .enumerate()
                .filter_map(|(i, text)| analyzers.alternative(fields, text, i == 0, terms))
                .collect();
            match queries.len() {
                0 => None,
                1 => queries.pop(),
                _ => Some(best_of(queries)),
            }
        })
        .collect();
    (!concepts.is_empty()).then(|| all_of(concepts))
}

/// The concepts of a normalized query: thesaurus terms with their alternatives, and the
/// whitespace-separated words between them.
pub fn concepts(normalized: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let free = |text: &str, out: &mut Vec<Vec<String>>| {
        out.extend(text.split_whitespace().map(|word| vec![word.to_string()]));
    };
    let mut pos = 0;
    for found in thesaurus::shipped().find(normalized) {
        free(&normalized[pos..found.start], &mut out);
        out.push(found.alternatives);
        pos = found.end;
    }
    free(&normalized[pos..], &mut out);
    out
}

struct Analyzers {
    words: TextAnalyzer,
    chars: TextAnalyzer,
}

impl Analyzers {
    /// One way of writing a concept: exact phrase in a name, all words, or all characters.
    fn alternative(
        &mut self,
        fields: &Fields,
        text: &str,
        typed: bool,
        terms: &mut QueryTerms,
    ) -> Option<Box<dyn Query>> {
        let chars = token_texts(&mut self.chars, text);
        if chars.is_empty() {
            return None;
        }
        let words = token_texts(&mut self.words, text);
        let all_words = (!words.is_empty())
            .then(|| all_of(words.iter().map(|w| any_word_field(fields, w)).collect()));
        terms.words.extend(words);
        if !typed {
            return all_words;
        }
        let unique: HashSet<&String> = chars.iter().collect();
        let all_chars = unique
            .into_iter()
            .map(|c| scored_term(fields.chars_all, c))
            .collect();
        let mut clauses = vec![
            (Occur::Must, boost(all_of(all_chars), CHAR_FALLBACK_BOOST)),
            (
                Occur::Should,
                boost(name_phrase(fields.chars_name, &chars), NAME_PHRASE_BOOST),
            ),
        ];
        clauses.extend(all_words.map(|words| (Occur::Should, words)));
        terms.chars.extend(chars);
        Some(Box::new(BooleanQuery::new(clauses)))
    }
}

fn name_phrase(field: Field, chars: &[String]) -> Box<dyn Query> {
    if chars.len() == 1 {
        return scored_term(field, &chars[0]);
    }
    let terms = chars
        .iter()
        .map(|c| Term::from_field_text(field, c))
        .collect();
    Box::new(PhraseQuery::new(terms))
}

fn any_word_field(fields: &Fields, word: &str) -> Box<dyn Query> {
    union(vec![
        boost(scored_term(fields.words_name, word), NAME_BOOST),
        boost(scored_term(fields.words_org, word), ORG_BOOST),
        boost(scored_term(fields.words_body, word), BODY_BOOST),
    ])
}

fn scored_term(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

fn boost(query: Box<dyn Query>, factor: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, factor))
}

/// The best-scoring alternative counts (plus a little of the others): a record matching three
/// synonyms of a concept does not outrank one matching its exact name.
fn best_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    Box::new(DisjunctionMaxQuery::with_tie_breaker(
        queries,
        ALTERNATIVES_TIE_BREAKER,
    ))
}

fn union(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    Box::new(BooleanQuery::union(queries))
}

fn all_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    Box::new(BooleanQuery::intersection(queries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concepts_split_on_thesaurus_terms_and_spaces() {
        let concepts = concepts(&normalize("兰州大学透射电镜  样品"));
        assert_eq!(concepts.len(), 3, "{concepts:?}");
        assert_eq!(concepts[0], ["兰州大学"]);
        assert!(concepts[1].contains(&"透射电子显微镜".to_string()));
        assert!(concepts[1].contains(&"tem".to_string()));
        assert_eq!(concepts[2], ["样品"]);
    }

    #[test]
    fn english_query_expands_to_chinese() {
        let concepts = concepts(&normalize("Flow Cytometer"));
        assert_eq!(concepts.len(), 1);
        assert!(concepts[0].contains(&"流式细胞仪".to_string()));
    }

    #[test]
    fn punctuation_only_query_matches_nothing() {
        let (_, fields) = super::super::fields::schema();
        let query = SearchQuery {
            q: "，。!?".into(),
            ..SearchQuery::default()
        };
        let (built, terms) = build(&fields, &query);
        assert!(format!("{built:?}").contains("EmptyQuery"));
        assert!(terms.unwrap().words.is_empty());
    }
}
