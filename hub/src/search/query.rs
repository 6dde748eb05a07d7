//! Turning a [`SearchQuery`] into a tantivy query, built programmatically (no query syntax, so
//! no input can fail to parse).
//!
//! The text is cut into concepts: thesaurus terms (each with its alternatives) and the
//! whitespace-separated words between them. Every concept must match; a concept matches when any
//! of its alternatives does, and scores as the best of them. The typed text matches when all its
//! jieba words occur in one field group (names 3, organisation and place 1.5, description 1) or
//! all its characters occur in the names (the fallback for abbreviations, boost 0.3), and scores
//! up for the exact phrase in a name (character positions, boost 4); a thesaurus synonym matches
//! when all its jieba words occur in one field group.

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
///
/// The filters are repeated inside every intersection of the text query rather than put once
/// beside it: tantivy evaluates a union in windows of 4096 documents, so a union beside a filter
/// would be computed in full; inside, every leaf intersection is driven by its rarest member.
pub fn build(fields: &Fields, query: &SearchQuery) -> (Box<dyn Query>, Option<QueryTerms>) {
    let filters = filters(fields, query);
    if query.q.is_empty() {
        let built = if filters.is_empty() {
            Box::new(AllQuery)
        } else {
            all_of(filters)
        };
        return (built, None);
    }
    let mut terms = QueryTerms::default();
    let mut builder = Builder {
        fields,
        filters,
        words: analysis::jieba_query(),
        chars: analysis::chars(),
    };
    let built = builder.text_query(&query.q, &mut terms);
    (built.unwrap_or_else(|| Box::new(EmptyQuery)), Some(terms))
}

/// Constant-score (0) filter clauses.
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
    out.into_iter()
        .map(|filter| Box::new(ConstScoreQuery::new(filter, 0.0)) as Box<dyn Query>)
        .collect()
}

fn key_term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

struct Builder<'a> {
    fields: &'a Fields,
    filters: Vec<Box<dyn Query>>,
    words: TextAnalyzer,
    chars: TextAnalyzer,
}

impl Builder<'_> {
    /// The text part of the query: every concept must match. `None` when `q` has nothing
    /// searchable.
    fn text_query(&mut self, q: &str, terms: &mut QueryTerms) -> Option<Box<dyn Query>> {
        let mut seen = HashSet::new();
        let concepts: Vec<Box<dyn Query>> = concepts(&normalize(q))
            .into_iter()
            .filter(|alternatives| seen.insert(alternatives.clone()))
            .filter_map(|alternatives| self.concept(&alternatives, terms))
            .collect();
        (!concepts.is_empty()).then(|| all_of(concepts))
    }

    /// Any of the alternatives (the typed text first), scored by the best of them.
    fn concept(
        &mut self,
        alternatives: &[String],
        terms: &mut QueryTerms,
    ) -> Option<Box<dyn Query>> {
        let mut queries: Vec<Box<dyn Query>> = alternatives
            .iter()
            .enumerate()
            .filter_map(|(i, text)| self.alternative(text, i == 0, terms))
            .collect();
        match queries.len() {
            0 => None,
            1 => queries.pop(),
            _ => Some(best_of(queries)),
        }
    }

    /// The typed text: all its characters somewhere, scored up for the exact phrase in a name
    /// and for all its words in one field group. A synonym: all its words in one field group.
    fn alternative(
        &mut self,
        text: &str,
        typed: bool,
        terms: &mut QueryTerms,
    ) -> Option<Box<dyn Query>> {
        let chars = token_texts(&mut self.chars, text);
        if chars.is_empty() {
            return None;
        }
        let words = token_texts(&mut self.words, text);
        let word_fields = [
            (self.fields.words_name, NAME_BOOST),
            (self.fields.words_org, ORG_BOOST),
            (self.fields.words_body, BODY_BOOST),
        ];
        let in_fields: Vec<Box<dyn Query>> = if words.is_empty() {
            Vec::new()
        } else {
            word_fields
                .into_iter()
                .map(|(field, factor)| boost(self.filtered(terms_in(field, &words)), factor))
                .collect()
        };
        terms.words.extend(words);
        if !typed {
            return (!in_fields.is_empty()).then(|| union(in_fields));
        }
        let unique: Vec<String> = chars
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        // The character fallback looks at the names only (names, English names, keywords):
        // that is where abbreviations are written (透射电镜 for 透射电子显微镜), and common
        // characters spread over long descriptions would otherwise match most of the catalogue.
        let fallback = boost(
            self.filtered(terms_in(self.fields.chars_name, &unique)),
            CHAR_FALLBACK_BOOST,
        );
        let phrase = boost(
            self.filtered(vec![name_phrase(self.fields.chars_name, &chars)]),
            NAME_PHRASE_BOOST,
        );
        let mut matches = vec![fallback];
        matches.extend(in_fields);
        terms.chars.extend(chars);
        Some(Box::new(BooleanQuery::new(vec![
            (Occur::Must, union(matches)),
            (Occur::Should, phrase),
        ])))
    }

    /// The intersection of `clauses` and the filters.
    fn filtered(&self, mut clauses: Vec<Box<dyn Query>>) -> Box<dyn Query> {
        clauses.extend(self.filters.iter().map(|f| f.box_clone()));
        all_of(clauses)
    }
}

fn terms_in(field: Field, texts: &[String]) -> Vec<Box<dyn Query>> {
    texts.iter().map(|t| scored_term(field, t)).collect()
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
    fn repeated_concepts_are_searched_once() {
        let (_, fields) = super::super::fields::schema();
        let once = SearchQuery {
            q: "TEM".into(),
            ..SearchQuery::default()
        };
        let many = SearchQuery {
            q: "TEM tem TEM 透射电镜".into(),
            ..SearchQuery::default()
        };
        let debug = |q: &SearchQuery| {
            format!("{:?}", build(&fields, q).0)
                .matches("TermQuery")
                .count()
        };
        assert_eq!(
            debug(&many),
            debug(&once)
                + debug(&SearchQuery {
                    q: "透射电镜".into(),
                    ..SearchQuery::default()
                })
        );
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
