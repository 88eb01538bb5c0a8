//! Message content sanitisation: the single ammonia `Builder`, configured to keep what the
//! reference's bleach settings keep (messages.md §6) and to drop `<script>`/`<style>` bodies
//! (DECISIONS 29). The only file that imports ammonia.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

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

pub fn sanitize(input: &str) -> SafeHtml {
    SafeHtml(builder().clean(&escape_unclosed_tags(input)).to_string())
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
mod tests {
    use super::sanitize;

    /// messages.md §6 vectors, with `<script>`/`<style>` bodies dropped (DECISIONS 29).
    #[test]
    fn conformance_vectors() {
        let cases = [
            ("<script>alert('xss')</script>", ""),
            ("<p>Hello<script>alert(1)</script></p>", "<p>Hello</p>"),
            ("<p onclick=\"alert(1)\">Click me</p>", "<p>Click me</p>"),
            ("<a href=\"javascript:alert(1)\">link</a>", "<a>link</a>"),
            ("<a href=\"JaVaScRiPt:alert(1)\">link</a>", "<a>link</a>"),
            (
                "<a href=\"data:text/html;base64,PHNjcmlwdD4=\">x</a>",
                "<a>x</a>",
            ),
            ("<img src=\"x\" onerror=\"alert(1)\">", ""),
            ("<svg onload=\"alert(1)\"></svg>", ""),
            (
                "<p style=\"background:url(javascript:alert(1))\">Test</p>",
                "<p>Test</p>",
            ),
            ("<!--<script>alert(1)</script>-->", ""),
            (
                "<ul><li>Item<script>alert(1)</script></li></ul>",
                "<ul><li>Item</li></ul>",
            ),
            ("<iframe src=\"https://evil.com\"></iframe>", ""),
            (
                "<a href=\"https://example.com\" onclick=\"alert(1)\" class=\"x\">ok</a>",
                "<a href=\"https://example.com\" class=\"x\">ok</a>",
            ),
            (
                "<p id=\"test\" class=\"safe\">hello</p>",
                "<p id=\"test\" class=\"safe\">hello</p>",
            ),
            (
                "&lt;script&gt;alert(1)&lt;/script&gt;",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            (
                "<a href=\"https://example.com\" target=\"_blank\">go</a>",
                "<a href=\"https://example.com\" target=\"_blank\">go</a>",
            ),
            ("<p data-test=\"x\" aria-label=\"y\">hi</p>", "<p>hi</p>"),
            ("Hello<br><script>alert(1)</script>World", "Hello<br>World"),
            ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
            ("Tom & Jerry", "Tom &amp; Jerry"),
            ("a<b", "a&lt;b"),
            ("<<b>>", "&lt;<b>&gt;</b>"),
            (
                "<scr<script>ipt>alert(1)</scr</script>ipt>",
                "ipt&gt;alert(1)ipt&gt;",
            ),
            ("<i><b>x</i></b>", "<i><b>x</b></i>"),
            ("<p>a</p>text</p>", "<p>a</p>text<p></p>"),
            // bleach re-emits named references as written; the serialiser writes the character
            // itself. Both render the same text (docs/protocol-notes.md).
            (
                "&amp; &copy; &nbsp; &#169; &bogus;",
                "&amp; © &nbsp; © &amp;bogus;",
            ),
            ("x <y", "x &lt;y"),
            ("<b>bold", "<b>bold</b>"),
            ("<B>Up</B>", "<b>Up</b>"),
            ("<br/>", "<br>"),
            ("<p>unclosed", "<p>unclosed</p>"),
            ("<ol><li>1<li>2</ol>", "<ol><li>1</li><li>2</li></ol>"),
            ("<div>d</div>", "d"),
            ("<style>body{}</style>x", "x"),
            ("<span style=\"color:red\">s</span>", "<span>s</span>"),
            ("<span title=\"t\">s</span>", "<span>s</span>"),
            (
                "<a title='t' target='_self' rel='x'>a</a>",
                "<a title=\"t\" target=\"_self\">a</a>",
            ),
            (
                "<a href='mailto:x@y.z'>m</a>",
                "<a href=\"mailto:x@y.z\">m</a>",
            ),
            ("<a href='ftp://x'>f</a>", "<a>f</a>"),
            ("<a href='/rel/path'>r</a>", "<a href=\"/rel/path\">r</a>"),
            (
                "<a href=\"https://example.com/?a=1&b=2\">q</a>",
                "<a href=\"https://example.com/?a=1&amp;b=2\">q</a>",
            ),
            ("<p CLASS=\"X\">u</p>", "<p class=\"X\">u</p>"),
            ("\"quotes\" and 'single'", "\"quotes\" and 'single'"),
            ("line1\nline2", "line1\nline2"),
            ("emoji 👍 ok", "emoji 👍 ok"),
        ];
        let mut failures = Vec::new();
        for (input, want) in cases {
            let got = sanitize(input);
            if got.as_str() != want {
                failures.push(format!("{input:?}: got {:?}, want {want:?}", got.as_str()));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
