//! Stored content as plain text, for places that show no markup (a push preview): tags
//! dropped, character references decoded, whitespace collapsed. The input is what
//! [`super::sanitize`] wrote, so a `<` in it always opens a tag (text `<` is `&lt;`); quoted
//! attribute values may hold `>`, and are skipped as a whole.

use markup5ever::data::NAMED_ENTITIES;

/// `html` without its markup, at most `max_chars` characters (`…` ends a shortened text).
pub fn plain_text(html: &str, max_chars: usize) -> String {
    let mut text = String::with_capacity(html.len().min(max_chars * 4));
    let mut chars = html.chars();
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                skip_tag(&mut chars);
                // A tag separates words (`a<br>b`, `</p><p>`).
                text.push(' ');
            }
            '&' => decode_reference(&mut chars, &mut text),
            c => text.push(c),
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let collapsed = words.join(" ");
    if collapsed.chars().count() <= max_chars {
        return collapsed;
    }
    let mut short: String = collapsed
        .chars()
        .take(max_chars.saturating_sub(1))
        .collect();
    short.truncate(short.trim_end().len());
    short.push('…');
    short
}

fn skip_tag(chars: &mut std::str::Chars<'_>) {
    let mut quote = None;
    for c in chars.by_ref() {
        match (quote, c) {
            (None, '>') => return,
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
}

/// After an `&`: the character a reference names, or the `&` and whatever followed as text.
fn decode_reference(chars: &mut std::str::Chars<'_>, out: &mut String) {
    let rest = chars.as_str();
    let Some(end) = rest.find(';').filter(|end| *end <= 32) else {
        out.push('&');
        return;
    };
    let name = &rest[..end];
    let decoded = if let Some(number) = name.strip_prefix('#') {
        let value = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => number.parse::<u32>().ok(),
        };
        value.and_then(char::from_u32).map(String::from)
    } else {
        NAMED_ENTITIES
            .get(format!("{name};").as_str())
            .filter(|(first, _)| *first != 0)
            .map(|&(first, second)| {
                [first, second]
                    .into_iter()
                    .filter(|c| *c != 0)
                    .filter_map(char::from_u32)
                    .collect()
            })
    };
    match decoded {
        Some(text) => {
            out.push_str(&text);
            // Past the name and its `;`.
            *chars = rest[end + 1..].chars();
        }
        None => out.push('&'),
    }
}

#[cfg(test)]
mod tests {
    use super::plain_text;

    #[test]
    fn markup_goes_references_are_decoded_and_whitespace_collapses() {
        assert_eq!(
            plain_text(
                r#"<p>Hi <b>Bob</b> &amp; <a href="x?a=1&amp;b=>2" title='q"'>all</a></p><p>x&lt;y &#169;&#xA9;&copy; &bogus;</p>"#,
                100
            ),
            "Hi Bob & all x<y ©©© &bogus;"
        );
        assert_eq!(
            plain_text("line<br>break\n\n  here", 100),
            "line break here"
        );
    }

    #[test]
    fn long_text_is_cut_at_the_limit_with_an_ellipsis() {
        assert_eq!(plain_text("abcdef", 6), "abcdef");
        assert_eq!(plain_text("abcdefg", 6), "abcde…");
        assert_eq!(plain_text("abcd fgh", 6), "abcd…");
        assert_eq!(plain_text("äöüäöüä", 3), "äö…");
    }
}
