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
    /// The query's words as normalized characters (the same folding as the analyzers).
    words: Vec<Vec<char>>,
    chars: TextAnalyzer,
}

impl<'a> Highlighter<'a> {
    pub fn new(terms: &'a QueryTerms) -> Highlighter<'a> {
        Highlighter {
            terms,
            words: terms.words.iter().map(|w| w.chars().collect()).collect(),
            chars: analysis::chars(),
        }
    }

    /// The snippet of the first text (in order of preference) with word matches, else with
    /// character matches, else the start of the first text; HTML-escaped except the `<em>`s.
    pub fn highlight(&mut self, texts: &[&str]) -> String {
        for text in texts {
            let ranges = word_ranges(text, &self.words);
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

/// Byte ranges where a query word occurs in `text`, merged where they touch or overlap. A plain
/// scan of the normalized characters rather than a jieba pass per text, which costs ~50 µs each;
/// a word starting or ending with a Latin letter or digit must stand alone there.
fn word_ranges(text: &str, words: &[Vec<char>]) -> Vec<(usize, usize)> {
    let mut norm = Vec::with_capacity(text.len());
    let mut offsets = Vec::with_capacity(text.len() + 1);
    for (offset, c) in text.char_indices() {
        let folded = analysis::fold_width(c);
        norm.push(folded.to_lowercase().next().unwrap_or(folded));
        offsets.push(offset);
    }
    offsets.push(text.len());
    let mut found = Vec::new();
    for word in words
        .iter()
        .filter(|w| !w.is_empty() && w.len() <= norm.len())
    {
        for start in 0..=norm.len() - word.len() {
            let end = start + word.len();
            if norm[start..end] == word[..] && stands_alone(&norm, start, end) {
                found.push((offsets[start], offsets[end], 1));
            }
        }
    }
    merge(found, 1)
}

/// No Latin letter or digit continues a Latin match on either side.
fn stands_alone(norm: &[char], start: usize, end: usize) -> bool {
    let latin = |c: &char| c.is_ascii_alphanumeric();
    let open = !(latin(&norm[start]) && start > 0 && latin(&norm[start - 1]));
    let close = !(latin(&norm[end - 1]) && norm.get(end).is_some_and(latin));
    open && close
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
    merge(found, min_run)
}

/// Sorts `(from, to, weight)` ranges, merges touching or overlapping ones adding their weights,
/// and keeps the merged ranges of at least `min_run`.
fn merge(mut found: Vec<(usize, usize, usize)>, min_run: usize) -> Vec<(usize, usize)> {
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
fn escape_into(out: &mut String, text: &str) {
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
        let t = terms(&["tem"], &[]);
        let out = Highlighter::new(&t).highlight(&["System TEM-2100"]);
        assert_eq!(out, "System <em>TEM</em>-2100");
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
