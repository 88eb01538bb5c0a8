//! Message content as it is stored (new or edited): sanitised, and within the bound
//! docs/protocol-notes.md promises ("Bound on stored content").

use crate::protocol::errors::ChatError;
use crate::sanitize::{may_outgrow, sanitize, SafeHtml, MAX_ESCAPE_GROWTH};

/// `raw` (validated and trimmed) sanitised for storing. Escaping grows content at most
/// `MAX_ESCAPE_GROWTH`-fold; only crafted markup grows more (the HTML parser re-opens every
/// unclosed formatting element in each new paragraph, so 10 000 characters can become
/// millions). That is refused, never stored or dispatched — and when a linear estimate
/// already puts it far beyond the bound, refused before the costly parse.
pub fn sanitized(raw: &str, max_content_chars: usize) -> Result<SafeHtml, ChatError> {
    let most = MAX_ESCAPE_GROWTH * max_content_chars;
    let overgrown = || {
        ChatError::field(
            "content",
            format!("Ensure this field has no more than {most} characters once sanitised."),
        )
    };
    // The estimate over-approximates; the slack keeps real content that nests and closes its
    // tags (estimated close to what it writes) from ever being refused by it, while what it
    // lets through costs a parse of at most a few hundred thousand characters.
    if may_outgrow(raw, ESTIMATE_SLACK * most) {
        return Err(overgrown());
    }
    let content = sanitize(raw);
    if content.as_str().chars().count() > most {
        return Err(overgrown());
    }
    Ok(content)
}

/// How far beyond the bound the estimate must put content before it is refused unparsed.
const ESTIMATE_SLACK: usize = 4;
