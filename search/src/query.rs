//! Turning a [`SearchQuery`] into a tantivy query, built programmatically (no query syntax, so
//! no input can fail to parse).
//!
//! The text is cut into concepts: thesaurus terms and the whitespace-separated words between
//! them. Every concept must match. A thesaurus term matches the records tagged with it at index
//! time (they mention one of its alternatives), scored by the field group the mention is in
//! (names 3, organisation and place 1.5, description 1). Another word matches when all its jieba
//! words occur in one field group (same boosts) or all its characters occur in the names (the
//! fallback for abbreviations, boost 0.3), and scores up for the exact phrase in a name
//! (character positions, boost 4).

use std::collections::HashSet;
use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, Occur, PhraseQuery, Query,
    RangeQuery, TermQuery,
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
/// A word that is a record's number (GS-0001) names that record: above any text match.
const IDENTIFIER_BOOST: f32 = 20.0;

/// The tokens a query searched for, for highlighting.
#[derive(Debug, Default)]
pub struct QueryTerms {
    /// jieba words.
    pub words: HashSet<String>,
    /// Single characters and Latin words.
    pub chars: HashSet<String>,
}

/// The tantivy query of a search and, for a non-empty `q`, the terms to highlight.
/// `known_name_word` tells whether the index has a word in its names (see [`Builder::word`]).
///
/// The filters are repeated inside every intersection of a word's query rather than put once
/// beside it: tantivy evaluates a union in windows of 4096 documents, so a union beside a filter
/// would be computed in full; inside, every leaf intersection is driven by its rarest member.
/// A thesaurus term's union of tags is small and cheap, so its filters sit beside it.
pub fn build(
    fields: &Fields,
    query: &SearchQuery,
    known_name_word: &dyn Fn(&str) -> bool,
) -> (Box<dyn Query>, Option<QueryTerms>) {
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
        known_name_word,
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
        (fields.sharing, &query.sharing),
        (fields.status, &query.status),
    ];
    let mut out: Vec<Box<dyn Query>> = keys
        .into_iter()
        .filter_map(|(field, value)| value.as_deref().map(|v| key_term(field, v)))
        .collect();
    if let Some(city) = &query.city {
        out.push(prefix_of(fields.city, city));
    }
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

/// The values of a raw field that start with `prefix` (兰州 finds 兰州市): a range of the
/// field's terms, from the prefix to the prefix followed by the last code point.
fn prefix_of(field: Field, prefix: &str) -> Box<dyn Query> {
    let upper = format!("{prefix}{}", char::MAX);
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_text(field, prefix)),
        Bound::Included(Term::from_field_text(field, &upper)),
    ))
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
    known_name_word: &'a dyn Fn(&str) -> bool,
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
            .filter(|concept| seen.insert(concept.key().to_string()))
            .filter_map(|concept| match concept {
                Concept::Term { tag, alternatives } => {
                    Some(self.thesaurus_term(&tag, &alternatives, terms))
                }
                Concept::Word(word) => self.word(&word, terms),
            })
            .collect();
        (!concepts.is_empty()).then(|| all_of(concepts))
    }

    /// A thesaurus term: the records tagged with it, i.e. mentioning any of its alternatives
    /// (see [`thesaurus`]), scored by where (names 3, organisation and place 1.5, description 1)
    /// and up for the typed term itself in a name (4).
    fn thesaurus_term(
        &mut self,
        tag: &str,
        alternatives: &[String],
        terms: &mut QueryTerms,
    ) -> Box<dyn Query> {
        for alternative in alternatives {
            terms
                .words
                .extend(token_texts(&mut self.words, alternative));
        }
        if let Some(typed) = alternatives.first() {
            terms.chars.extend(token_texts(&mut self.chars, typed));
        }
        let exact = thesaurus::exact_tag(alternatives.first().map_or(tag, String::as_str));
        let tags = [
            (self.fields.tags_name, exact.as_str(), NAME_PHRASE_BOOST),
            (self.fields.tags_name, tag, NAME_BOOST),
            (self.fields.tags_org, tag, ORG_BOOST),
            (self.fields.tags_body, tag, BODY_BOOST),
        ];
        // A union of plain term queries, the filters beside it once (one seek per candidate)
        // rather than inside each member.
        let tagged = union(
            tags.into_iter()
                .map(|(field, text, factor)| boost(scored_term(field, text), factor))
                .collect(),
        );
        self.filtered(vec![tagged])
    }

    /// A word the thesaurus does not know: all its jieba words in one field group, or all its
    /// characters in the names; scored up for the exact phrase in a name.
    ///
    /// The character fallback is for text the index does not have as one word of its names
    /// (abbreviations: 透射电镜 for 透射电子显微镜, unusual compounds). A single jieba word that
    /// the names do contain is matched as that word: its characters scattered over a name add
    /// no recall worth the cost (显微镜 would intersect three of the commonest characters).
    fn word(&mut self, text: &str, terms: &mut QueryTerms) -> Option<Box<dyn Query>> {
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
        let in_fields = word_fields
            .into_iter()
            .filter(|_| !words.is_empty())
            .map(|(field, factor)| boost(self.filtered(terms_in(field, &words)), factor));
        let unique: Vec<String> = chars
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        // The character fallback looks at the names only (names, English names, keywords):
        // that is where abbreviations are written (透射电镜 for 透射电子显微镜), and common
        // characters spread over long descriptions would otherwise match most of the catalogue.
        let known_word = matches!(words.as_slice(), [word] if (self.known_name_word)(word));
        let fallback = (!known_word).then(|| {
            boost(
                self.filtered(terms_in(self.fields.chars_name, &unique)),
                CHAR_FALLBACK_BOOST,
            )
        });
        // A record's number, exactly (the normalized word is how it was indexed).
        let identifier = boost(
            self.filtered(vec![scored_term(self.fields.ids, text)]),
            IDENTIFIER_BOOST,
        );
        let matches = union(
            fallback
                .into_iter()
                .chain(in_fields)
                .chain([identifier])
                .collect(),
        );
        // One jieba word in the names is already the exact phrase (boost 3); several need their
        // characters in a row.
        let phrase = (words.len() > 1).then(|| {
            let phrase = name_phrase(self.fields.chars_name, &chars);
            boost(self.filtered(vec![phrase]), NAME_PHRASE_BOOST)
        });
        terms.words.extend(words);
        terms.chars.extend(chars);
        Some(match phrase {
            Some(phrase) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, matches),
                (Occur::Should, phrase),
            ])),
            None => matches,
        })
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

/// What a query asks for: thesaurus terms and the other words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Concept {
    /// A thesaurus term: its tag and its alternatives (the term itself first).
    Term {
        tag: String,
        alternatives: Vec<String>,
    },
    /// A whitespace-separated word between thesaurus terms.
    Word(String),
}

impl Concept {
    /// What the concept searches for: the same key, the same records.
    fn key(&self) -> &str {
        match self {
            Concept::Term { tag, .. } => tag,
            Concept::Word(word) => word,
        }
    }
}

/// The concepts of a normalized query: thesaurus terms (leftmost-longest) and the
/// whitespace-separated words between them.
pub fn concepts(normalized: &str) -> Vec<Concept> {
    let mut out = Vec::new();
    let free = |text: &str, out: &mut Vec<Concept>| {
        out.extend(
            text.split_whitespace()
                .map(|w| Concept::Word(w.to_string())),
        );
    };
    let mut pos = 0;
    for found in thesaurus::shipped().find(normalized) {
        free(&normalized[pos..found.start], &mut out);
        out.push(Concept::Term {
            tag: found.tag,
            alternatives: found.alternatives,
        });
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

fn union(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    single(queries).unwrap_or_else(|queries| Box::new(BooleanQuery::union(queries)))
}

fn all_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    single(queries).unwrap_or_else(|queries| Box::new(BooleanQuery::intersection(queries)))
}

/// The query itself when it is alone: a boolean query of one clause would hide its kind from
/// tantivy's optimisations (block-max WAND needs to see a union of terms).
fn single(mut queries: Vec<Box<dyn Query>>) -> Result<Box<dyn Query>, Vec<Box<dyn Query>>> {
    match queries.len() {
        1 => Ok(queries.pop().expect("one query")),
        _ => Err(queries),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concepts_split_on_thesaurus_terms_and_spaces() {
        let concepts = concepts(&normalize("兰州大学透射电镜  样品"));
        assert_eq!(concepts.len(), 3, "{concepts:?}");
        assert_eq!(concepts[0], Concept::Word("兰州大学".into()));
        let Concept::Term { alternatives, .. } = &concepts[1] else {
            panic!("{concepts:?}");
        };
        assert!(alternatives.contains(&"透射电子显微镜".to_string()));
        assert!(alternatives.contains(&"tem".to_string()));
        assert_eq!(concepts[2], Concept::Word("样品".into()));
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
            format!("{:?}", build(&fields, q, &|_| false).0)
                .matches("TermQuery")
                .count()
        };
        assert_eq!(debug(&many), debug(&once));
    }

    #[test]
    fn english_query_expands_to_chinese() {
        let concepts = concepts(&normalize("Flow Cytometer"));
        assert_eq!(concepts.len(), 1);
        let Concept::Term { alternatives, .. } = &concepts[0] else {
            panic!("{concepts:?}");
        };
        assert!(alternatives.contains(&"流式细胞仪".to_string()));
    }

    #[test]
    fn punctuation_only_query_matches_nothing() {
        let (_, fields) = super::super::fields::schema();
        let query = SearchQuery {
            q: "，。!?".into(),
            ..SearchQuery::default()
        };
        let (built, terms) = build(&fields, &query, &|_| false);
        assert!(format!("{built:?}").contains("EmptyQuery"));
        assert!(terms.unwrap().words.is_empty());
    }
}
