//! Recent answers of the current version of what they were computed on, so that a popular
//! question costs one computation per change rather than one per request.
//!
//! Why: a broad search ("色谱", "显微镜") matches up to a tenth of the nation, and its exact total
//! and facets cost time linear in its matches (tens of milliseconds at 10M records); a
//! nation-wide statistics question scans every row (hundreds of milliseconds at 10M). Yet
//! researchers ask the same few broad questions over and over, and the national office the same
//! few statistics. A search answer is a pure function of the searcher it ran on (ties are ordered
//! by a stored rank, never by document address, see `collect`) and a statistics answer of the
//! table's version, so an answer kept for that generation is exactly the answer a new computation
//! on it would give. The first answer computed on a newer generation empties the cache, so
//! nothing older is ever served once a newer answer exists. Solr's query result cache and
//! Elasticsearch's request cache work the same way.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use super::lock;

/// Answers to questions `Q`, kept for the generation they were computed on.
pub(crate) struct Answers<Q: Hash + Eq, A> {
    current: Mutex<Generation<Q, A>>,
}

struct Generation<Q: Hash + Eq, A> {
    /// The generation (searcher generation, table version) the answers were computed on.
    id: u64,
    answers: LruCache<Q, A>,
}

impl<Q: Hash + Eq + Clone, A: Clone> Answers<Q, A> {
    /// Keeps at most `capacity` answers.
    pub(crate) fn new(capacity: NonZeroUsize) -> Answers<Q, A> {
        Answers {
            current: Mutex::new(Generation {
                id: 0,
                answers: LruCache::new(capacity),
            }),
        }
    }

    /// The answer to `question` computed on `generation`, if kept.
    pub(crate) fn get(&self, generation: u64, question: &Q) -> Option<A> {
        let mut current = lock(&self.current);
        if current.id != generation {
            return None;
        }
        current.answers.get(question).cloned()
    }

    /// Keeps `answer`, computed on `generation`. A newer generation replaces every kept answer; an
    /// answer from an older one (computed while a change landed) is not kept.
    pub(crate) fn put(&self, generation: u64, question: &Q, answer: &A) {
        let mut current = lock(&self.current);
        if generation > current.id {
            current.id = generation;
            current.answers.clear();
        }
        if generation == current.id {
            current.answers.put(question.clone(), answer.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SearchQuery;

    const CAPACITY: NonZeroUsize = NonZeroUsize::new(4).unwrap();

    fn answers() -> Answers<SearchQuery, u64> {
        Answers::new(CAPACITY)
    }

    fn query(q: &str) -> SearchQuery {
        SearchQuery {
            q: q.into(),
            ..SearchQuery::default()
        }
    }

    #[test]
    fn an_answer_is_served_for_its_generation_only() {
        let answers = answers();
        answers.put(3, &query("TEM"), &7);
        assert_eq!(answers.get(3, &query("TEM")), Some(7));
        assert!(answers.get(3, &query("SEM")).is_none());
        assert!(answers.get(4, &query("TEM")).is_none());
        assert!(answers.get(2, &query("TEM")).is_none());
    }

    #[test]
    fn a_newer_generation_drops_older_answers_and_older_ones_are_not_kept() {
        let answers = answers();
        answers.put(3, &query("TEM"), &7);
        answers.put(4, &query("SEM"), &1);
        answers.put(3, &query("NMR"), &2);
        assert!(answers.get(3, &query("TEM")).is_none());
        assert!(answers.get(3, &query("NMR")).is_none());
        assert!(answers.get(4, &query("NMR")).is_none());
        assert_eq!(answers.get(4, &query("SEM")), Some(1));
    }

    #[test]
    fn pages_and_filters_are_different_questions() {
        let answers = answers();
        let page_two = SearchQuery {
            offset: 20,
            ..query("TEM")
        };
        let in_beijing = SearchQuery {
            region: Some("CN-BJ".into()),
            ..query("TEM")
        };
        answers.put(1, &query("TEM"), &7);
        assert!(answers.get(1, &page_two).is_none());
        assert!(answers.get(1, &in_beijing).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let answers = answers();
        for i in 0..=CAPACITY.get() {
            answers.put(1, &query(&i.to_string()), &1);
        }
        assert!(answers.get(1, &query("0")).is_none());
        assert!(answers.get(1, &query("1")).is_some());
    }
}
