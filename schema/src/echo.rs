//! Client input quoted back in an error (a member name, a value, a pointer) is cut to a bounded
//! length, so that a hostile request can never draw an error answer larger than a few kilobytes.

/// Longest text of client origin an error message, pointer or parameter carries, in characters.
pub const MAX_ECHO_CHARS: usize = 300;

/// `text` cut to [`MAX_ECHO_CHARS`] characters, with `…` marking the cut.
pub fn cut(text: String) -> String {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        None => text,
        Some((end, _)) => {
            let mut kept = text;
            kept.truncate(end);
            kept.push('…');
            kept
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_on_a_character_boundary() {
        assert_eq!(cut("兰州".to_owned()), "兰州");
        let long = cut("仪".repeat(100_000));
        assert_eq!(long.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(long.ends_with('…'));
        let exact = "a".repeat(MAX_ECHO_CHARS);
        assert_eq!(cut(exact.clone()), exact);
    }
}
