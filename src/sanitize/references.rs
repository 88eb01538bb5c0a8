//! Which `&` bleach keeps as written, and the markers that carry that verdict through ammonia.
//!
//! bleach 6 never decodes a character reference: its tokenizer leaves `&` in the text, and on
//! output it keeps an `&` that starts what it counts as a reference and escapes every other one
//! (`&copy;` stays, `&bogus;` becomes `&amp;bogus;`). html5ever decodes references while it
//! tokenizes, so by the time ammonia serialises, `&copy;` and `©` are indistinguishable. We
//! therefore replace every `&` of the input with a marker before parsing: a noncharacter (which
//! no tokenizer state treats specially and ammonia passes through) that also records bleach's
//! verdict. The verdict is judged on the input as written: the characters it looks at (`#`,
//! ASCII letters and digits, `;`) never end a token, so they are what bleach's tokenizer saw
//! after that `&`. [`super::reserialize`] turns markers back into `&` or `&amp;`.
//!
//! bleach's rules (`html5lib_shim.match_entity`, `convert_entity`):
//! - in text, `&` is kept before `name;` when `name` is a prefix of some entity name, and
//!   before `#digits;` / `#xhex;` (digits may be empty, any value);
//! - in attribute values it is kept only when the reference also decodes: a legacy entity
//!   name (those valid without `;`, e.g. `copy`, `amp`; not `hellip`), or a number in
//!   1..=0x10FFFF.
//!
//! One deliberate difference: for `&#1a;` bleach emits `&#1;;`, losing the `a`; we escape the
//! `&` (`&amp;#1a;`) and keep the user's text.

use std::borrow::Cow;
use std::sync::OnceLock;

use markup5ever::data::NAMED_ENTITIES;

/// Marks an `&` that bleach keeps in text and in attribute values.
pub(super) const KEPT: char = '\u{FDD0}';
/// Marks an `&` that bleach keeps in text but escapes in attribute values.
pub(super) const KEPT_IN_TEXT: char = '\u{FDD1}';
/// Marks an `&` that bleach escapes everywhere.
pub(super) const ESCAPED: char = '\u{FDD2}';
/// Says the next character is the user's own, not a marker: user input may contain any of
/// these noncharacters, and html5ever would drop a leading byte-order mark that bleach keeps.
pub(super) const LITERAL: char = '\u{FDD3}';

const BYTE_ORDER_MARK: char = '\u{FEFF}';

pub(super) fn is_marker(c: char) -> bool {
    matches!(c, KEPT | KEPT_IN_TEXT | ESCAPED | LITERAL)
}

/// `input` with every `&` replaced by its marker and every marker-like character of the user
/// (and a leading byte-order mark) prefixed with [`LITERAL`].
pub(super) fn mark(input: &str) -> Cow<'_, str> {
    if !input.starts_with(BYTE_ORDER_MARK) && !input.contains(|c| c == '&' || is_marker(c)) {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len() + 8);
    for (i, c) in input.char_indices() {
        match c {
            '&' => out.push(verdict(&input[i + 1..])),
            c if is_marker(c) || (i == 0 && c == BYTE_ORDER_MARK) => {
                out.push(LITERAL);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// bleach's verdict on an `&` followed by `after`.
fn verdict(after: &str) -> char {
    match after.strip_prefix('#') {
        Some(number) => numeric_verdict(number),
        None => named_verdict(after),
    }
}

fn numeric_verdict(number: &str) -> char {
    let (digits, radix) = match number.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    let len = digits
        .bytes()
        .take_while(|b| char::from(*b).is_digit(radix))
        .count();
    if digits.as_bytes().get(len) != Some(&b';') {
        return ESCAPED;
    }
    // An empty or overflowing number is text-only, like any value outside 1..=0x10FFFF.
    match u32::from_str_radix(&digits[..len], radix) {
        Ok(code) if (1..0x11_0000).contains(&code) => KEPT,
        _ => KEPT_IN_TEXT,
    }
}

fn named_verdict(after: &str) -> char {
    let len = after.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = &after[..len];
    if len == 0 || after.as_bytes().get(len) != Some(&b';') || !is_entity_prefix(name) {
        return ESCAPED;
    }
    // The table maps the names valid without `;` (`copy`) to their characters; anything else
    // found under a bare name is a filler for a prefix and maps to (0, 0).
    match NAMED_ENTITIES.get(name) {
        Some(&(first, _)) if first != 0 => KEPT,
        _ => KEPT_IN_TEXT,
    }
}

/// Whether some HTML5 entity name (with or without its `;`) starts with `name`.
fn is_entity_prefix(name: &str) -> bool {
    static SORTED: OnceLock<Vec<&'static str>> = OnceLock::new();
    let names = SORTED.get_or_init(|| {
        let mut names: Vec<&'static str> = NAMED_ENTITIES.keys().copied().collect();
        names.sort_unstable();
        names
    });
    let at = names.partition_point(|candidate| *candidate < name);
    names.get(at).is_some_and(|found| found.starts_with(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_references_follow_bleachs_text_and_attribute_rules() {
        for (after, want) in [
            ("copy;", KEPT),
            ("COPY;", KEPT),
            ("amp;", KEPT),
            ("hellip;", KEPT_IN_TEXT), // a name, but not one valid without `;`
            ("co;", KEPT_IN_TEXT),     // a prefix of `copy`
            ("Copy;", ESCAPED),
            ("bogus;", ESCAPED),
            ("copy", ESCAPED),
            ("copy ;", ESCAPED),
            (";", ESCAPED),
            ("", ESCAPED),
        ] {
            assert_eq!(verdict(after), want, "&{after}");
        }
    }

    #[test]
    fn numeric_references_follow_bleachs_text_and_attribute_rules() {
        for (after, want) in [
            ("#169;", KEPT),
            ("#00169;", KEPT),
            ("#xA9;", KEPT),
            ("#XA9;", KEPT),
            ("#x10FFFF;", KEPT),
            ("#0;", KEPT_IN_TEXT),
            ("#x110000;", KEPT_IN_TEXT),
            ("#99999999999999999999;", KEPT_IN_TEXT),
            ("#;", KEPT_IN_TEXT),
            ("#x;", KEPT_IN_TEXT),
            ("#169", ESCAPED),
            ("#1a;", ESCAPED),
            ("#xG;", ESCAPED),
        ] {
            assert_eq!(verdict(after), want, "&{after}");
        }
    }

    #[test]
    fn marking_leaves_plain_input_alone_and_escapes_the_users_own_markers() {
        assert!(matches!(mark("plain <b>text</b>"), Cow::Borrowed(_)));
        assert_eq!(
            mark("\u{FEFF}a&b\u{FDD0}\u{FDD3}\u{FEFF}"),
            "\u{FDD3}\u{FEFF}a\u{FDD2}b\u{FDD3}\u{FDD0}\u{FDD3}\u{FDD3}\u{FEFF}"
        );
    }
}
