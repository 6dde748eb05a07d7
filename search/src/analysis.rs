//! Text analysis: jieba word segmentation and the character-level CJK fallback.
//!
//! Both analyzers fold full-width ASCII to half-width, lower-case, and drop tokens that carry no
//! letter or digit (whitespace and punctuation), so the index and the queries agree on tokens.

use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
    TokenizerManager,
};
use tantivy_jieba::JiebaTokenizer;

/// The analyzer of the word-level fields (jieba, search mode: words and their dictionary parts).
pub const JIEBA: &str = "yiqi_jieba";
/// The analyzer of the character-level fields (one token per Han character, Latin words whole).
pub const CHARS: &str = "yiqi_chars";
/// Tokens longer than this many bytes are dropped (serial numbers, pasted garbage).
const MAX_TOKEN_BYTES: usize = 64;

/// The word analyzer used at index time: jieba in search mode, so that a long word such as
/// 电子显微镜 is also indexed as its dictionary parts (电子, 显微镜). The HMM (guessing words not
/// in the dictionary) is off on both sides: it more than halves indexing speed, and the
/// character fields keep the recall of unknown words.
pub fn jieba_index() -> TextAnalyzer {
    let mut jieba = JiebaTokenizer::new();
    jieba.set_hmm(false);
    words(jieba)
}

/// The word analyzer used on queries: jieba in default mode, one token per segmented word.
pub fn jieba_query() -> TextAnalyzer {
    let mut jieba = JiebaTokenizer::with_search_mode(false);
    jieba.set_hmm(false);
    words(jieba)
}

fn words(jieba: JiebaTokenizer) -> TextAnalyzer {
    TextAnalyzer::builder(jieba)
        .filter(WordFilter)
        .filter(LowerCaser)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .build()
}

/// The character-level analyzer.
pub fn chars() -> TextAnalyzer {
    TextAnalyzer::builder(CharTokenizer)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .build()
}

/// A tokenizer manager with both analyzers registered under [`JIEBA`] and [`CHARS`].
pub fn tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::default();
    manager.register(JIEBA, jieba_index());
    manager.register(CHARS, chars());
    manager
}

/// The token texts an analyzer produces for `text`.
pub fn token_texts(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    analyzer
        .token_stream(text)
        .process(&mut |token: &Token| out.push(token.text.clone()));
    out
}

/// Full-width ASCII (U+FF01..U+FF5E) to its half-width form; the ideographic space to a space.
pub fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Han ideographs, kana and hangul: scripts written without spaces, indexed one character each.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF     // hiragana, katakana
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xAC00..=0xD7AF   // hangul syllables
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0x20000..=0x3134F) // extensions B to G
}

/// Drops tokens without any letter or digit and folds full-width ASCII in the others.
#[derive(Clone, Copy)]
pub struct WordFilter;

impl TokenFilter for WordFilter {
    type Tokenizer<T: Tokenizer> = WordFilterWrapper<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordFilterWrapper<T> {
        WordFilterWrapper(tokenizer)
    }
}

#[derive(Clone)]
pub struct WordFilterWrapper<T>(T);

impl<T: Tokenizer> Tokenizer for WordFilterWrapper<T> {
    type TokenStream<'a> = WordFilterStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordFilterStream(self.0.token_stream(text))
    }
}

pub struct WordFilterStream<S>(S);

impl<S: TokenStream> TokenStream for WordFilterStream<S> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            let token = self.0.token_mut();
            if token.text.chars().any(char::is_alphanumeric) {
                if token.text.chars().any(|c| fold_width(c) != c) {
                    token.text = token.text.chars().map(fold_width).collect();
                }
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

/// One token per CJK character; runs of other letters and digits as one lower-cased word.
#[derive(Clone, Copy, Default)]
pub struct CharTokenizer;

impl Tokenizer for CharTokenizer {
    type TokenStream<'a> = CharTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CharTokenStream<'a> {
        CharTokenStream {
            text,
            chars: text.char_indices().peekable(),
            token: Token::default(),
            position: 0,
        }
    }
}

pub struct CharTokenStream<'a> {
    text: &'a str,
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    token: Token,
    position: usize,
}

impl CharTokenStream<'_> {
    fn is_word_char(c: char) -> bool {
        let c = fold_width(c);
        c.is_alphanumeric() && !is_cjk(c)
    }

    fn start_token(&mut self, from: usize) {
        self.token.text.clear();
        self.token.offset_from = from;
        self.token.position = self.position;
        self.token.position_length = 1;
        self.position += 1;
    }

    fn push(&mut self, c: char) {
        self.token.text.extend(fold_width(c).to_lowercase());
    }
}

impl TokenStream for CharTokenStream<'_> {
    fn advance(&mut self) -> bool {
        while let Some((offset, c)) = self.chars.next() {
            if is_cjk(c) {
                self.start_token(offset);
                self.push(c);
                self.token.offset_to = offset + c.len_utf8();
                return true;
            }
            if Self::is_word_char(c) {
                self.start_token(offset);
                self.push(c);
                let mut end = offset + c.len_utf8();
                while let Some(&(next_offset, next)) = self.chars.peek() {
                    if !Self::is_word_char(next) {
                        break;
                    }
                    self.push(next);
                    end = next_offset + next.len_utf8();
                    self.chars.next();
                }
                self.token.offset_to = end;
                debug_assert!(end <= self.text.len());
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chars_split_han_and_keep_latin_words_lower_cased() {
        let tokens = token_texts(&mut chars(), "透射电镜 TEM-2100F，ＴＥＭ 200kV");
        assert_eq!(
            tokens,
            ["透", "射", "电", "镜", "tem", "2100f", "tem", "200kv"]
        );
    }

    #[test]
    fn char_positions_are_consecutive() {
        let mut analyzer = chars();
        let mut stream = analyzer.token_stream("扫描 电镜");
        let mut positions = Vec::new();
        while let Some(token) = stream.next() {
            positions.push(token.position);
        }
        assert_eq!(positions, [0, 1, 2, 3]);
    }

    #[test]
    fn jieba_segments_drops_punctuation_and_lower_cases() {
        let tokens = token_texts(
            &mut jieba_index(),
            "场发射透射电子显微镜，Field Emission TEM！",
        );
        assert!(tokens.contains(&"显微镜".to_string()), "{tokens:?}");
        assert!(tokens.contains(&"透射".to_string()), "{tokens:?}");
        assert!(tokens.contains(&"field".to_string()), "{tokens:?}");
        assert!(tokens.contains(&"tem".to_string()), "{tokens:?}");
        assert!(tokens.iter().all(|t| t.chars().any(char::is_alphanumeric)));
        assert!(tokens.iter().all(|t| t.to_lowercase() == *t));
    }

    #[test]
    fn query_mode_gives_whole_words() {
        let tokens = token_texts(&mut jieba_query(), "扫描电子显微镜");
        assert!(!tokens.is_empty());
        assert_eq!(tokens.concat(), "扫描电子显微镜");
    }

    #[test]
    fn full_width_is_folded() {
        assert_eq!(fold_width('Ａ'), 'A');
        assert_eq!(token_texts(&mut chars(), "ＮＭＲ"), ["nmr"]);
        assert_eq!(token_texts(&mut jieba_query(), "Ｘ射线"), ["x", "射线"]);
    }
}
