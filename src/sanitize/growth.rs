//! A linear-time upper estimate of what the HTML parser adds to crafted markup, so that such
//! markup is refused before it is parsed.
//!
//! Parsing is where crafted markup costs: the parser re-opens every formatting element that is
//! still open (`<b>`, `<a>`, … without their end tag) each time an element containing them
//! closes and text follows (HTML §13.2.4.3, "reconstruct the active formatting elements"), so
//! 300 unclosed `<b class=N>` followed by `<p>x` repeated turn 10,000 characters into millions,
//! and building that tree takes about a second before the result can be refused. The estimate
//! walks the tags once and over-approximates: every tag other than a formatting start tag may
//! close elements and so precede a reconstruction; every formatting start tag stays open until
//! an end tag of its name (at most three identical ones at a time: the parser's "Noah's Ark"
//! clause); each re-opened copy costs at most its start tag escaped plus its end tag. Ordinary
//! formatted text closes what it opens, so its estimate stays small.

/// The formatting elements of the HTML parser (HTML §13.2.4.3): those it re-opens.
const FORMATTING: [&str; 14] = [
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

/// How many identical formatting elements the parser keeps open at once (Noah's Ark).
const IDENTICAL_KEPT: usize = 3;

/// How many copies of formatting elements one formatting end tag can make when the parser
/// repairs mis-nesting (the adoption agency's outer loop runs at most eight times).
const ADOPTION_CLONES: usize = 8;

/// At most how many characters the parser's re-opened formatting elements add to `input`
/// once serialised; stops counting past `stop_after` (the caller's bound).
pub fn reopened_chars(input: &str, stop_after: usize) -> usize {
    let mut open: Vec<Open<'_>> = Vec::new();
    let mut open_cost = 0usize;
    let mut total = 0usize;
    // Tags other than formatting ones so far: an entry opened after the last of them has no
    // other element inside it, so its own end tag pops it and nothing else.
    let mut others = 0usize;
    for tag in tags(input) {
        let is_formatting = FORMATTING.iter().any(|f| f.eq_ignore_ascii_case(tag.name));
        if !is_formatting {
            others += 1;
            // It may close elements; the text after it re-opens all that is open.
            total = total.saturating_add(open_cost);
        } else if !tag.is_end {
            let identical: Vec<usize> = (0..open.len())
                .filter(|&i| open[i].text == tag.text)
                .collect();
            if identical.len() >= IDENTICAL_KEPT {
                open_cost -= open.remove(identical[0]).cost;
            }
            let cost = clone_cost(&tag);
            open.push(Open {
                text: tag.text,
                cost,
                others_before: others,
            });
            open_cost += cost;
        } else {
            match open
                .iter()
                .rposition(|o| tag_name(o.text).eq_ignore_ascii_case(tag.name))
            {
                Some(i) if open[i].others_before == others => {
                    // Popping it pops the formatting elements opened inside it, which the
                    // next text re-opens.
                    let inside: usize = open[i + 1..].iter().map(|o| o.cost).sum();
                    total = total.saturating_add(inside);
                    open_cost -= open.remove(i).cost;
                }
                Some(i) => {
                    // Mis-nested around other elements: the parser's repair copies
                    // formatting elements, and whatever it pops is re-opened.
                    let costliest = open.iter().map(|o| o.cost).max().unwrap_or(0);
                    total = total
                        .saturating_add(open_cost)
                        .saturating_add(ADOPTION_CLONES * costliest);
                    open_cost -= open.remove(i).cost;
                }
                None => total = total.saturating_add(open_cost),
            }
        }
        if total > stop_after {
            break;
        }
    }
    total
}

/// A formatting element the parser may still re-open.
struct Open<'a> {
    text: &'a str,
    /// What one re-opened copy writes at most.
    cost: usize,
    /// How many other tags came before it.
    others_before: usize,
}

/// The most one re-opened copy of `tag` writes: its start tag with every character escaped as
/// it may be in an attribute value, every attribute's value quoted (at most `=""` more per
/// attribute, and an attribute follows a space or `/`), and its end tag.
fn clone_cost(tag: &Tag<'_>) -> usize {
    let inner = &tag.text[1..tag.text.len() - 1];
    let written: usize = inner
        .chars()
        .map(|c| match c {
            '"' | '\u{A0}' => 6,
            '&' => 5,
            '<' | '>' => 4,
            c if c.is_ascii_whitespace() || c == '/' => 4,
            _ => 1,
        })
        .sum();
    2 + written + tag.name.len() + 3
}

struct Tag<'a> {
    /// The whole tag, `<` to `>` (both included).
    text: &'a str,
    name: &'a str,
    is_end: bool,
}

fn tag_name(text: &str) -> &str {
    let body = text.trim_start_matches('<').trim_start_matches('/');
    let end = body
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(body.len());
    &body[..end]
}

/// The tags of `input` as a tokenizer sees them: `<` or `</` then a letter, up to the next
/// `>` outside a quoted attribute value. Anything else is text.
fn tags(input: &str) -> impl Iterator<Item = Tag<'_>> {
    let bytes = input.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(offset) = bytes[at..].iter().position(|&b| b == b'<') {
            let start = at + offset;
            let is_end = bytes.get(start + 1) == Some(&b'/');
            let name_at = start + 1 + usize::from(is_end);
            if !bytes.get(name_at).is_some_and(u8::is_ascii_alphabetic) {
                at = start + 1;
                continue;
            }
            let end = closing_bracket(bytes, name_at)?;
            at = end + 1;
            let text = &input[start..=end];
            return Some(Tag {
                text,
                name: tag_name(text),
                is_end,
            });
        }
        None
    })
}

fn closing_bracket(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::reopened_chars;
    use crate::sanitize::{sanitize, MAX_ESCAPE_GROWTH};

    fn bound(input: &str) -> usize {
        MAX_ESCAPE_GROWTH * input.chars().count() + reopened_chars(input, usize::MAX)
    }

    #[test]
    fn markup_that_closes_what_it_opens_is_estimated_to_grow_nothing() {
        let formatted =
            "<p><b>bold</b> and <i>italic</i></p><ul><li><a href=\"x\">link</a></li></ul>"
                .repeat(100);
        assert_eq!(reopened_chars(&formatted, usize::MAX), 0);
    }

    #[test]
    fn unclosed_formatting_before_many_paragraphs_is_estimated_quadratically() {
        let opened: String = (0..30).map(|i| format!("<b class={i}>")).collect();
        let crafted = format!("<p>{opened}{}", "<p>x".repeat(200));
        assert!(reopened_chars(&crafted, usize::MAX) > 200 * 30 * "<b class=1>".len());
    }

    #[test]
    fn for_plain_attributes_the_estimate_is_close_to_what_the_parser_adds() {
        let opened: String = (0..30).map(|i| format!("<b class={i}>")).collect();
        let crafted = format!("<p>{opened}{}", "<p>x".repeat(200));
        let added = sanitize(&crafted).as_str().chars().count() - crafted.chars().count();
        let estimate = reopened_chars(&crafted, usize::MAX);
        assert!(
            estimate >= added && estimate < 2 * added,
            "{estimate} vs {added}"
        );
    }

    #[test]
    fn identical_unclosed_tags_count_three_times_at_most() {
        let crafted = format!("{}{}", "<b>".repeat(1000), "<p>x".repeat(10));
        assert_eq!(
            reopened_chars(&crafted, usize::MAX),
            10 * 3 * ("<b>".len() + "</b>".len())
        );
    }

    #[test]
    fn counting_stops_past_the_callers_bound() {
        let crafted = format!(
            "{}{}",
            (0..300)
                .map(|i| format!("<b class={i}>"))
                .collect::<String>(),
            "<p>x".repeat(100_000)
        );
        let estimate = reopened_chars(&crafted, 1_000_000);
        assert!(estimate > 1_000_000 && estimate < 2_000_000, "{estimate}");
    }

    /// The estimate must be an upper bound of what sanitising really writes, also for
    /// mis-nested markup; a small deterministic generator tries many shapes.
    const ROUNDS: usize = 3_000;

    #[test]
    fn escaping_and_the_estimate_bound_what_sanitising_writes() {
        const PIECES: [&str; 40] = [
            "<b>",
            "</b>",
            "<i class=\"q\">",
            "</i>",
            "<a href=\"https://x\">",
            "</a>",
            "<p>",
            "</p>",
            "<li>",
            "<ul>",
            "</ul>",
            "<span>",
            "</span>",
            "<table><td>",
            "</td>",
            "x",
            "y&amp;",
            "\"",
            "<em>",
            "</em>",
            "<u>",
            "<div>",
            "</div>",
            "<br>",
            "<b class=1>",
            "<b class=2>",
            "<nobr>",
            "</nobr>",
            "<h1>",
            "</h1>",
            "<ol>",
            "</li>",
            "<strong id=s>",
            "</strong>",
            "<object>",
            "</object>",
            "<b class='a\"b'>",
            "<i/id=k/class=c>",
            "<em title>",
            "<a title=\"&lt;&\">",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for round in 0..ROUNDS {
            let mut input = String::new();
            for _ in 0..(20 + round % 120) {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                input.push_str(PIECES[(state >> 33) as usize % PIECES.len()]);
            }
            let written = sanitize(&input).as_str().chars().count();
            assert!(
                written <= bound(&input),
                "{input:?}: {written} > {}",
                bound(&input)
            );
        }
    }
}
