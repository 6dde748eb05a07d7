//! Recent search answers of the current index generation, so that a popular query costs one
//! search per index change rather than one per request.
//!
//! Why: a broad query ("色谱", "显微镜") matches up to a tenth of the nation, and its exact total
//! and facets cost time linear in its matches (tens of milliseconds at 10M records), while
//! researchers ask the same few broad questions over and over. The answer of a query is a pure
//! function of the searcher it ran on (ties are ordered by a stored rank, never by document
//! address, see `collect`), so an answer kept for the searcher's generation is exactly the answer
//! a new search on that generation would give. A commit makes a new generation; the first answer
//! computed on it empties the cache, so nothing older is ever served once a newer answer exists.
//! Solr's query result cache and Elasticsearch's request cache work the same way.
//!
//! Queries with `idle` are not kept: which instruments are idle comes from the utilisation table,
//! which changes with every applied entry, not with the index generation.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use super::{SearchQuery, SearchResponse, lock};

/// Answers kept. A page holds at most `MAX_LIMIT` hits of about 600 bytes each, so the cache is
/// bounded by about 30 MB and is a few MB with default pages.
const CAPACITY: NonZeroUsize = NonZeroUsize::new(512).unwrap();

pub(crate) struct Answers {
    current: Mutex<Generation>,
}

struct Generation {
    /// The searcher generation the answers were computed on.
    id: u64,
    answers: LruCache<SearchQuery, SearchResponse>,
}

impl Default for Answers {
    fn default() -> Answers {
        Answers {
            current: Mutex::new(Generation {
                id: 0,
                answers: LruCache::new(CAPACITY),
            }),
        }
    }
}

impl Answers {
    /// Whether answers to `query` are kept at all.
    pub(crate) fn keeps(query: &SearchQuery) -> bool {
        query.idle.is_none()
    }

    /// The answer to `query` computed on searcher generation `generation`, if kept.
    pub(crate) fn get(&self, generation: u64, query: &SearchQuery) -> Option<SearchResponse> {
        let mut current = lock(&self.current);
        if current.id != generation {
            return None;
        }
        current.answers.get(query).cloned()
    }

    /// Keeps `answer`, computed on `generation`. A newer generation replaces every kept answer; an
    /// answer from an older one (a search that started before a commit) is not kept.
    pub(crate) fn put(&self, generation: u64, query: &SearchQuery, answer: &SearchResponse) {
        let mut current = lock(&self.current);
        if generation > current.id {
            current.id = generation;
            current.answers.clear();
        }
        if generation == current.id {
            current.answers.put(query.clone(), answer.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(total: u64) -> SearchResponse {
        SearchResponse {
            total,
            took_ms: 0,
            hits: Vec::new(),
            facets: super::super::Facets::default(),
            suggestions: Vec::new(),
        }
    }

    fn query(q: &str) -> SearchQuery {
        SearchQuery {
            q: q.into(),
            ..SearchQuery::default()
        }
    }

    #[test]
    fn an_answer_is_served_for_its_generation_only() {
        let answers = Answers::default();
        answers.put(3, &query("TEM"), &answer(7));
        assert_eq!(answers.get(3, &query("TEM")).map(|a| a.total), Some(7));
        assert!(answers.get(3, &query("SEM")).is_none());
        assert!(answers.get(4, &query("TEM")).is_none());
        assert!(answers.get(2, &query("TEM")).is_none());
    }

    #[test]
    fn a_newer_generation_drops_older_answers_and_older_ones_are_not_kept() {
        let answers = Answers::default();
        answers.put(3, &query("TEM"), &answer(7));
        answers.put(4, &query("SEM"), &answer(1));
        answers.put(3, &query("NMR"), &answer(2));
        assert!(answers.get(3, &query("TEM")).is_none());
        assert!(answers.get(3, &query("NMR")).is_none());
        assert!(answers.get(4, &query("NMR")).is_none());
        assert_eq!(answers.get(4, &query("SEM")).map(|a| a.total), Some(1));
    }

    #[test]
    fn pages_and_filters_are_different_questions() {
        let answers = Answers::default();
        let page_two = SearchQuery {
            offset: 20,
            ..query("TEM")
        };
        let in_beijing = SearchQuery {
            region: Some("CN-BJ".into()),
            ..query("TEM")
        };
        answers.put(1, &query("TEM"), &answer(7));
        assert!(answers.get(1, &page_two).is_none());
        assert!(answers.get(1, &in_beijing).is_none());
    }

    #[test]
    fn idle_queries_are_not_kept() {
        assert!(Answers::keeps(&query("TEM")));
        assert!(!Answers::keeps(&SearchQuery {
            idle: Some(2025),
            ..query("TEM")
        }));
    }

    #[test]
    fn the_cache_is_bounded() {
        let answers = Answers::default();
        for i in 0..=CAPACITY.get() {
            answers.put(1, &query(&i.to_string()), &answer(1));
        }
        assert!(answers.get(1, &query("0")).is_none());
        assert!(answers.get(1, &query("1")).is_some());
    }
}
