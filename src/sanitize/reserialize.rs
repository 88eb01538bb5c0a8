//! Rewrites ammonia's serialisation of the cleaned tree the way bleach (html5lib's serialiser,
//! as bleach configures it) writes the same tree.
//!
//! The differences, all in escaping, none in structure:
//! - the `&` markers of [`super::references`] become `&` or `&amp;`, by context;
//! - U+00A0 is written as itself, not `&nbsp;`;
//! - in text, bleach turns the invisible control characters into `?`, except a form feed in
//!   the whitespace at either end of a text node (html5lib hands those runs over separately);
//! - in attribute values bleach escapes `<` but not `>`, and quotes with `'` a value that
//!   contains `"` but no `'`.
//!
//! ammonia's output is a strict format, which is what makes this rewrite a simple scan: every
//! `<` in text is escaped, so a raw `<` opens a tag; attribute values are double-quoted with
//! `"` escaped; what remains are allowed elements only (no comments, no raw-text elements).

use std::borrow::Cow;

use super::references::{ESCAPED, KEPT, KEPT_IN_TEXT, LITERAL};

/// `html` (ammonia's output for marked input) as bleach writes it. `href_survives` gets every
/// `href="…"` that keeps a character reference, exactly as it will be written, and says whether
/// it may stay: the browser decodes the references we keep, so the URL check must see them
/// decoded.
pub(super) fn bleach_style(html: &str, href_survives: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(html.len() + 8);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text(&rest[..open], &mut out);
        let len = tag_len(&rest[open..]);
        tag(&rest[open..open + len], &mut out, href_survives);
        rest = &rest[open + len..];
    }
    text(rest, &mut out);
    out
}

/// Length of the tag at the start of `from_open`, up to its `>` outside quotes.
fn tag_len(from_open: &str) -> usize {
    let mut quoted = false;
    for (i, c) in from_open.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '>' if !quoted => return i + 1,
            _ => {}
        }
    }
    from_open.len()
}

/// Reverses the serialiser's escapes. Anything else after an `&` is taken literally, and will
/// be written back as `&amp;`.
fn unescape(escaped: &str) -> Cow<'_, str> {
    const ESCAPES: [(&str, char); 5] = [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&nbsp;", '\u{A0}'),
    ];
    if !escaped.contains('&') {
        return Cow::Borrowed(escaped);
    }
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (c, len) = ESCAPES
            .iter()
            .find(|(entity, _)| rest.starts_with(entity))
            .map_or(('&', 1), |(entity, c)| (*c, entity.len()));
        out.push(c);
        rest = &rest[len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// bleach's `INVISIBLE_CHARACTERS`: C0 controls other than tab, line feed and carriage return.
fn is_invisible(c: char) -> bool {
    matches!(c, '\0'..='\x08' | '\x0b' | '\x0c' | '\x0e'..='\x1f')
}

fn text(escaped: &str, out: &mut String) {
    let raw = unescape(escaped);
    let lead = raw.len() - raw.trim_start_matches(is_html_space).len();
    let trail = raw.trim_end_matches(is_html_space).len().max(lead);
    let mut chars = raw.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            LITERAL => out.extend(chars.next().map(|(_, own)| own)),
            KEPT | KEPT_IN_TEXT => out.push('&'),
            ESCAPED | '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\x0c' if at < lead || at >= trail => out.push(c),
            c if is_invisible(c) => out.push('?'),
            c => out.push(c),
        }
    }
}

fn tag(tag: &str, out: &mut String, href_survives: &dyn Fn(&str) -> bool) {
    if tag.starts_with("</") {
        out.push_str(tag);
        return;
    }
    let Some((name, attributes)) = parse_start_tag(tag) else {
        // Not ammonia's format; never seen, but then keep ammonia's markup and make every
        // marker an inert `&amp;`.
        push_unmarked(tag, out);
        return;
    };
    out.push('<');
    out.push_str(name);
    for (attribute, escaped) in attributes {
        let (written, keeps_reference) = attribute_markup(attribute, &unescape(escaped));
        if keeps_reference && attribute == "href" && !href_survives(&written) {
            continue;
        }
        out.push(' ');
        out.push_str(&written);
    }
    out.push('>');
}

/// `<name a="v" b="w">` → (`name`, [(`a`, `v`), (`b`, `w`)]), values still escaped.
fn parse_start_tag(tag: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let inner = tag.strip_prefix('<')?.strip_suffix('>')?;
    let (name, mut rest) = inner.split_once(' ').unwrap_or((inner, ""));
    let mut attributes = Vec::new();
    while !rest.is_empty() {
        let (attribute, value_on) = rest.split_once("=\"")?;
        if attribute.contains([' ', '"']) {
            return None;
        }
        let (value, after) = value_on.split_once('"')?;
        attributes.push((attribute, value));
        rest = if after.is_empty() {
            after
        } else {
            after.strip_prefix(' ')?
        };
    }
    Some((name, attributes))
}

/// `name="value"` as html5lib writes it for bleach, and whether it keeps a character reference,
/// which the browser decodes where ammonia, judging the marked value, saw a marker. (An `&`
/// written as `&amp;`, or a character the user wrote, reads as it did to ammonia: like the
/// marker there, it is no scheme character, so the URL check comes out the same.)
///
/// html5lib quotes with `'` a value that contains `"` but no `'`; bleach then skips its
/// reference-keeping pass for that value (it only recognises values that follow `="`), so there
/// every `&` is escaped.
fn attribute_markup(name: &str, raw: &str) -> (String, bool) {
    let single_quoted = raw.contains('"') && !raw.contains('\'');
    let mut value = String::with_capacity(raw.len() + 8);
    let mut keeps_reference = false;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            LITERAL => value.extend(chars.next()),
            KEPT if !single_quoted => {
                keeps_reference = true;
                value.push('&');
            }
            KEPT | KEPT_IN_TEXT | ESCAPED | '&' => value.push_str("&amp;"),
            '<' => value.push_str("&lt;"),
            '"' if !single_quoted => value.push_str("&quot;"),
            c => value.push(c),
        }
    }
    let quote = if single_quoted { '\'' } else { '"' };
    (format!("{name}={quote}{value}{quote}"), keeps_reference)
}

fn push_unmarked(markup: &str, out: &mut String) {
    let mut chars = markup.chars();
    while let Some(c) = chars.next() {
        match c {
            LITERAL => out.extend(chars.next()),
            KEPT | KEPT_IN_TEXT | ESCAPED => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &str) -> bool {
        panic!("no href to judge")
    }

    #[test]
    fn markup_not_in_ammonias_format_keeps_its_markup_with_inert_markers() {
        let odd = "<a title=x\u{FDD0}y\u{FDD3}\u{FDD0}>t</a>";
        assert_eq!(bleach_style(odd, &never), "<a title=x&amp;y\u{FDD0}>t</a>");
        assert_eq!(bleach_style("<b x=\"1\"", &never), "<b x=\"1\"");
    }

    #[test]
    fn unknown_escapes_are_taken_literally() {
        assert_eq!(bleach_style("a &zz; b", &never), "a &amp;zz; b");
    }

    #[test]
    fn a_rewritten_href_that_fails_the_check_is_dropped_and_the_order_kept() {
        let html = "<a title=\"t\" href=\"x\u{FDD0}#58;y\" class=\"c\">l</a>";
        let judged = std::cell::RefCell::new(Vec::new());
        let refuse = |href: &str| {
            judged.borrow_mut().push(href.to_string());
            false
        };
        assert_eq!(
            bleach_style(html, &refuse),
            "<a title=\"t\" class=\"c\">l</a>"
        );
        assert_eq!(*judged.borrow(), ["href=\"x&#58;y\""]);
    }
}
