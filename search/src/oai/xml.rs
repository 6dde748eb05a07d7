//! Writing XML with `quick-xml` (which escapes markup), plus what it leaves to the caller:
//! dropping the characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

pub type Xml = Writer<Vec<u8>>;

/// A new document with its XML declaration.
pub fn document() -> Xml {
    let mut writer = Writer::new(Vec::with_capacity(16 * 1024));
    // Writing to a Vec cannot fail.
    let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    writer
}

/// A document part without a declaration, spliced into a document with [`raw`].
pub fn fragment() -> Xml {
    Writer::new(Vec::with_capacity(16 * 1024))
}

/// Appends markup written elsewhere.
pub fn raw(xml: &mut Xml, markup: &[u8]) {
    xml.get_mut().extend_from_slice(markup);
}

/// Text with the characters XML 1.0 forbids removed.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().all(allowed) {
        return text.into();
    }
    text.chars()
        .filter(|c| allowed(*c))
        .collect::<String>()
        .into()
}

fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

fn cleaned<'a>(attributes: &[(&'a str, &'a str)]) -> Vec<(&'a str, std::borrow::Cow<'a, str>)> {
    attributes.iter().map(|(k, v)| (*k, clean(v))).collect()
}

/// `<name attrs…>text</name>`.
pub fn element(xml: &mut Xml, name: &str, attributes: &[(&str, &str)], text: &str) {
    let _ = xml
        .create_element(name)
        .with_attributes(cleaned(attributes).iter().map(|(k, v)| (*k, v.as_ref())))
        .write_text_content(BytesText::new(&clean(text)));
}

/// `<name attrs…>…</name>` with `inner` writing the content.
pub fn parent(
    xml: &mut Xml,
    name: &str,
    attributes: &[(&str, &str)],
    inner: impl FnOnce(&mut Xml),
) {
    let _ = xml
        .create_element(name)
        .with_attributes(cleaned(attributes).iter().map(|(k, v)| (*k, v.as_ref())))
        .write_inner_content(|w| {
            inner(w);
            Ok(())
        });
}

/// `<name attrs…/>`.
pub fn empty(xml: &mut Xml, name: &str, attributes: &[(&str, &str)]) {
    let _ = xml
        .create_element(name)
        .with_attributes(cleaned(attributes).iter().map(|(k, v)| (*k, v.as_ref())))
        .write_empty();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_forbidden_characters_dropped() {
        let mut xml = Writer::new(Vec::new());
        element(&mut xml, "t", &[("a", "x\"<y")], "a<b>&c\u{1}\u{FFFF}d");
        assert_eq!(
            String::from_utf8(xml.into_inner()).unwrap(),
            "<t a=\"x&quot;&lt;y\">a&lt;b&gt;&amp;cd</t>"
        );
    }
}
