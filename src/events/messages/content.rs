//! Message content as it is stored (new or edited): sanitised, and within the bound
//! docs/protocol-notes.md promises ("Bound on stored content").

use crate::protocol::errors::ChatError;
use crate::sanitize::{sanitize, SafeHtml, MAX_ESCAPE_GROWTH};

/// `raw` (validated and trimmed) sanitised for storing. Escaping grows content at most
/// `MAX_ESCAPE_GROWTH`-fold; only crafted markup grows more (the HTML parser re-opens every
/// unclosed formatting element in each new paragraph, so 10 000 characters can become
/// millions). That is refused, never stored or dispatched.
pub fn sanitized(raw: &str, max_content_chars: usize) -> Result<SafeHtml, ChatError> {
    let content = sanitize(raw);
    let most = MAX_ESCAPE_GROWTH * max_content_chars;
    if content.as_str().chars().count() > most {
        return Err(ChatError::field(
            "content",
            format!("Ensure this field has no more than {most} characters once sanitised."),
        ));
    }
    Ok(content)
}
