//! Highlights: a snippet of the best matching text of a hit with the matches in `<em>`.

use std::collections::HashSet;

use tantivy::tokenizer::{TextAnalyzer, Token};

use super::analysis;
use super::query::QueryTerms;

/// Longest snippet, in characters.
const SNIPPET_CHARS: usize = 120;
/// Characters of context kept before the first match when a text is cut.
const LEAD_CHARS: usize = 20;

/// Highlights hits for one query.
pub struct Highlighter<'a> {
    terms: &'a QueryTerms,
    words: TextAnalyzer,
    chars: TextAnalyzer,
}

impl<'a> Highlighter<'a> {
    pub fn new(terms: &'a QueryTerms) -> Highlighter<'a> {
        Highlighter {
            terms,
            words: analysis::jieba_index(),
            chars: analysis::chars(),
        }
    }

    /// The snippet of the first text (in order of preference) with word matches, else with
    /// character matches, else the start of the first text; HTML-escaped except the `<em>`s.
    pub fn highlight(&mut self, texts: &[&str]) -> String {
        for text in texts {
            let ranges = matches(&mut self.words, text, &self.terms.words, 1);
            if !ranges.is_empty() {
                return snippet(text, &ranges);
            }
        }
        let min_run = if self.terms.chars.len() == 1 { 1 } else { 2 };
        for text in texts {
            let ranges = matches(&mut self.chars, text, &self.terms.chars, min_run);
            if !ranges.is_empty() {
                return snippet(text, &ranges);
            }
        }
        texts
            .first()
            .map_or_else(String::new, |text| snippet(text, &[]))
    }
}

/// Byte ranges of the tokens found in `wanted`, merged where they touch or overlap; a merged
/// range made of fewer than `min_run` single-character tokens is dropped.
fn matches(
    analyzer: &mut TextAnalyzer,
    text: &str,
    wanted: &HashSet<String>,
    min_run: usize,
) -> Vec<(usize, usize)> {
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    analyzer.token_stream(text).process(&mut |token: &Token| {
        if wanted.contains(&token.text) {
            let weight = if token.text.chars().count() > 1 {
                min_run
            } else {
                1
            };
            found.push((token.offset_from, token.offset_to, weight));
        }
    });
    found.sort_unstable();
    let mut runs: Vec<(usize, usize, usize)> = Vec::with_capacity(found.len());
    for (from, to, weight) in found {
        match runs.last_mut() {
            Some(last) if from <= last.1 => {
                last.1 = last.1.max(to);
                last.2 += weight;
            }
            _ => runs.push((from, to, weight)),
        }
    }
    runs.into_iter()
        .filter(|r| r.2 >= min_run)
        .map(|r| (r.0, r.1))
        .collect()
}

/// At most [`SNIPPET_CHARS`] characters of `text` around the first range, escaped, with the
/// ranges in `<em>`.
fn snippet(text: &str, ranges: &[(usize, usize)]) -> String {
    let (start, end) = window(text, ranges.first().map_or(0, |r| r.0));
    let mut out = String::with_capacity(end - start + 32);
    if start > 0 {
        out.push('…');
    }
    let mut pos = start;
    for &(from, to) in ranges {
        let (from, to) = (from.max(pos), to.min(end));
        if from >= to {
            continue;
        }
        escape_into(&mut out, &text[pos..from]);
        out.push_str("<em>");
        escape_into(&mut out, &text[from..to]);
        out.push_str("</em>");
        pos = to;
    }
    escape_into(&mut out, &text[pos..end]);
    if end < text.len() {
        out.push('…');
    }
    out
}

/// The byte window of the snippet: starting a little before `first_match`.
fn window(text: &str, first_match: usize) -> (usize, usize) {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let chars = boundaries.len() - 1;
    if chars <= SNIPPET_CHARS {
        return (0, text.len());
    }
    let match_char = boundaries.partition_point(|&b| b < first_match);
    let start_char = match_char
        .saturating_sub(LEAD_CHARS)
        .min(chars - SNIPPET_CHARS);
    (
        boundaries[start_char],
        boundaries[start_char + SNIPPET_CHARS],
    )
}

/// Appends `text` with `& < > " '` escaped.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(words: &[&str], chars: &[&str]) -> QueryTerms {
        QueryTerms {
            words: words.iter().map(|s| s.to_string()).collect(),
            chars: chars.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn word_matches_are_wrapped_and_merged() {
        let t = terms(&["电子显微镜", "显微镜"], &[]);
        let out = Highlighter::new(&t).highlight(&["场发射透射电子显微镜"]);
        assert_eq!(out, "场发射透射<em>电子显微镜</em>");
    }

    #[test]
    fn falls_back_to_character_runs() {
        let t = terms(&["透射电镜"], &["透", "射", "电", "镜"]);
        let out = Highlighter::new(&t).highlight(&["透射电子显微镜"]);
        assert_eq!(out, "<em>透射电</em>子显微镜");
    }

    #[test]
    fn escapes_everything_else() {
        let t = terms(&["tem"], &["tem"]);
        let out = Highlighter::new(&t).highlight(&["<b>", "a TEM & <script>"]);
        assert_eq!(out, "a <em>TEM</em> &amp; &lt;script&gt;");
    }

    #[test]
    fn long_texts_are_cut_around_the_match() {
        let text = format!("{}透射电镜{}", "甲".repeat(300), "乙".repeat(300));
        let t = terms(&["透射"], &[]);
        let out = Highlighter::new(&t).highlight(&[&text]);
        assert!(out.starts_with('…') && out.ends_with('…'));
        assert!(out.contains("<em>透射</em>"));
        assert!(out.chars().count() < SNIPPET_CHARS + 15);
    }

    #[test]
    fn no_match_gives_the_first_text() {
        let t = terms(&["x"], &["x"]);
        assert_eq!(Highlighter::new(&t).highlight(&["名称", "规格"]), "名称");
        assert_eq!(Highlighter::new(&t).highlight(&[]), "");
    }
}
