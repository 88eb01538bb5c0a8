//! Message content sanitisation: the single ammonia `Builder`, configured with the reference's
//! bleach settings (messages.md §6), and the wrapper that makes its output bleach's byte for
//! byte (DECISIONS 29). The only file that imports ammonia. [`plain_text`] turns stored content
//! back into text without markup (push previews).
//!
//! ammonia decides what survives: tags, attributes, URL schemes, comments, and the dropping of
//! `<script>`/`<style>` bodies (the one deliberate difference from bleach). The wrapper only
//! changes how the surviving tree is written: character references stay as the user wrote them
//! ([`references`]), and the escaping is bleach's ([`reserialize`]).

mod growth;
mod plain;
mod references;
mod reserialize;

pub use plain::plain_text;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// The most one character grows when sanitised content is serialised: `"` in an attribute
/// value is written `&quot;`, six characters for one (`&` becomes `&amp;`, five). Crafted
/// markup can grow more (the HTML parser re-opens unclosed formatting elements), which is why
/// new and edited messages are refused beyond this (`events::messages::content`).
pub const MAX_ESCAPE_GROWTH: usize = 6;

/// Content that has been through the sanitiser; the only way to build one is [`sanitize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeHtml(String);

impl SafeHtml {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// For content the server writes itself (`Media Files`), which has no markup.
    pub fn literal(text: &'static str) -> SafeHtml {
        SafeHtml(text.to_string())
    }
}

fn builder() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut b = ammonia::Builder::empty();
        b.tags(HashSet::from([
            "b", "i", "strong", "em", "a", "span", "p", "ul", "ol", "li", "br",
        ]))
        .tag_attributes(HashMap::from([(
            "a",
            HashSet::from(["href", "title", "target"]),
        )]))
        .generic_attributes(HashSet::from(["class", "id"]))
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(None)
        .clean_content_tags(HashSet::from(["script", "style"]))
        .strip_comments(true);
        b
    })
}

/// Whether sanitising `input` might write more than `most` characters, judged without parsing
/// it: escaping grows a character at most [`MAX_ESCAPE_GROWTH`]-fold, and [`growth`]
/// over-estimates what the parser re-opens. `false` is a promise; `true` only a suspicion.
pub fn may_outgrow(input: &str, most: usize) -> bool {
    let escaped = MAX_ESCAPE_GROWTH.saturating_mul(input.chars().count());
    escaped.saturating_add(growth::reopened_chars(input, most)) > most
}

pub fn sanitize(input: &str) -> SafeHtml {
    if is_plain_text(input) {
        // Parsing and writing back text that no markup, reference or escaping acts on gives it
        // unchanged, in bleach as in ammonia; most messages are such text.
        return SafeHtml(input.to_string());
    }
    SafeHtml(sanitize_markup(input))
}

fn is_plain_text(input: &str) -> bool {
    !input.starts_with('\u{FEFF}')
        && !input.chars().any(|c| {
            matches!(c, '<' | '>' | '&' | '\u{A0}')
                || (c.is_control() && c != '\n' && c != '\t')
                || references::is_marker(c)
        })
}

fn sanitize_markup(input: &str) -> String {
    let marked = references::mark(input);
    // After marking: the `&lt;` this writes is ours, to be decoded like any reference.
    let cleaned = builder().clean(&escape_unclosed_tags(&marked)).to_string();
    reserialize::bleach_style(&cleaned, &href_survives)
}

/// ammonia alone, configured as above, without the wrapper that makes its output bleach's: the
/// baseline of benches/sanitize.rs, not for message content.
#[doc(hidden)]
pub fn ammonia_only(input: &str) -> String {
    builder().clean(input).to_string()
}

/// Whether ammonia keeps `href="…"` as the browser will read it, with the character references
/// we kept decoded (`javascript&#58;…` is `javascript:…`).
fn href_survives(attribute: &str) -> bool {
    builder()
        .clean(&format!("<a {attribute}>"))
        .to_string()
        .starts_with("<a href=")
}

/// An HTML parser swallows a `<` that never gets its `>` (`a<b` → `a`); bleach keeps it as
/// text. Escaping every `<` after the last `>` keeps the user's text.
fn escape_unclosed_tags(input: &str) -> std::borrow::Cow<'_, str> {
    let tail_start = input.rfind('>').map_or(0, |i| i + 1);
    if !input[tail_start..].contains('<') {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len() + 8);
    out.push_str(&input[..tail_start]);
    out.push_str(&input[tail_start..].replace('<', "&lt;"));
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests;
