//! The sanitiser against its contract: messages.md §6 row by row, bleach 6.4's output beyond the
//! table, and ammonia's safety on everything we rewrite.

use super::{builder, is_plain_text, sanitize, sanitize_markup, MAX_ESCAPE_GROWTH};

/// messages.md §6, every row in the spec's order, input and output exactly as the spec writes
/// them. The third column is the text the spec's output keeps from inside `<script>`/`<style>`,
/// which DECISIONS 29 drops; our output is the spec's without it.
const SPEC_TABLE: [(&str, &str, &str); 45] = [
    // DECISIONS 29: the text inside <script> is dropped.
    (
        r#"<script>alert('xss')</script>"#,
        r#"alert('xss')"#,
        "alert('xss')",
    ),
    // DECISIONS 29: the text inside <script> is dropped.
    (
        r#"<p>Hello<script>alert(1)</script></p>"#,
        r#"<p>Helloalert(1)</p>"#,
        "alert(1)",
    ),
    (
        r#"<p onclick="alert(1)">Click me</p>"#,
        r#"<p>Click me</p>"#,
        "",
    ),
    (
        r#"<a href="javascript:alert(1)">link</a>"#,
        r#"<a>link</a>"#,
        "",
    ),
    (
        r#"<a href="JaVaScRiPt:alert(1)">link</a>"#,
        r#"<a>link</a>"#,
        "",
    ),
    (
        r#"<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>"#,
        r#"<a>x</a>"#,
        "",
    ),
    (r#"<img src="x" onerror="alert(1)">"#, "", ""),
    (r#"<svg onload="alert(1)"></svg>"#, "", ""),
    (
        r#"<p style="background:url(javascript:alert(1))">Test</p>"#,
        r#"<p>Test</p>"#,
        "",
    ),
    // The <script> here is inside a comment; the spec's output already has nothing of it.
    (r#"<!--<script>alert(1)</script>-->"#, "", ""),
    // No script element here: `<scr<script>` is one tag named `scr<script`, so `alert(1)` is
    // ordinary text and the spec's output holds as written.
    (
        r#"<scr<script>ipt>alert(1)</scr</script>ipt>"#,
        r#"ipt&gt;alert(1)ipt&gt;"#,
        "",
    ),
    // DECISIONS 29: the text inside <script> is dropped.
    (
        r#"<ul><li>Item<script>alert(1)</script></li></ul>"#,
        r#"<ul><li>Itemalert(1)</li></ul>"#,
        "alert(1)",
    ),
    (r#"<iframe src="https://evil.com"></iframe>"#, "", ""),
    (
        r#"<a href="https://example.com" onclick="alert(1)" class="x">ok</a>"#,
        r#"<a href="https://example.com" class="x">ok</a>"#,
        "",
    ),
    (
        r#"<p id="test" class="safe">hello</p>"#,
        r#"<p id="test" class="safe">hello</p>"#,
        "",
    ),
    (
        r#"&lt;script&gt;alert(1)&lt;/script&gt;"#,
        r#"&lt;script&gt;alert(1)&lt;/script&gt;"#,
        "",
    ),
    // DECISIONS 29: the text inside <script> is dropped.
    (
        r#"<p onclick="alert(1)"><a href="javascript:alert(2)">x</a><script>alert(3)</script></p>"#,
        r#"<p><a>x</a>alert(3)</p>"#,
        "alert(3)",
    ),
    (
        r#"<a href="https://example.com" target="_blank">go</a>"#,
        r#"<a href="https://example.com" target="_blank">go</a>"#,
        "",
    ),
    (
        r#"<p data-test="x" aria-label="y">hi</p>"#,
        r#"<p>hi</p>"#,
        "",
    ),
    // DECISIONS 29: the text inside <script> is dropped.
    (
        r#"Hello<br><script>alert(1)</script>World"#,
        r#"Hello<br>alert(1)World"#,
        "alert(1)",
    ),
    (r#"a < b & c > d"#, r#"a &lt; b &amp; c &gt; d"#, ""),
    (r#"Tom & Jerry"#, r#"Tom &amp; Jerry"#, ""),
    (r#"a<b"#, r#"a&lt;b"#, ""),
    (r#"<<b>>"#, r#"&lt;<b>&gt;</b>"#, ""),
    (r#"<b>bold"#, r#"<b>bold</b>"#, ""),
    (r#"<B>Up</B>"#, r#"<b>Up</b>"#, ""),
    (r#"<br/>"#, r#"<br>"#, ""),
    (r#"<p>unclosed"#, r#"<p>unclosed</p>"#, ""),
    (r#"<i><b>x</i></b>"#, r#"<i><b>x</b></i>"#, ""),
    (
        r#"<ol><li>1<li>2</ol>"#,
        r#"<ol><li>1</li><li>2</li></ol>"#,
        "",
    ),
    (r#"<p>a</p>text</p>"#, r#"<p>a</p>text<p></p>"#, ""),
    (r#"<div>d</div>"#, r#"d"#, ""),
    // DECISIONS 29: the text inside <style> is dropped.
    (r#"<style>body{}</style>x"#, r#"body{}x"#, "body{}"),
    (
        r#"<span style="color:red">s</span>"#,
        r#"<span>s</span>"#,
        "",
    ),
    // The spec adds: (title only allowed on `a`).
    (r#"<span title="t">s</span>"#, r#"<span>s</span>"#, ""),
    (
        r#"<a title='t' target='_self' rel='x'>a</a>"#,
        r#"<a title="t" target="_self">a</a>"#,
        "",
    ),
    (
        r#"<a href='mailto:x@y.z'>m</a>"#,
        r#"<a href="mailto:x@y.z">m</a>"#,
        "",
    ),
    (r#"<a href='ftp://x'>f</a>"#, r#"<a>f</a>"#, ""),
    (
        r#"<a href='/rel/path'>r</a>"#,
        r#"<a href="/rel/path">r</a>"#,
        "",
    ),
    (
        r#"<a href="https://example.com/?a=1&b=2">q</a>"#,
        r#"<a href="https://example.com/?a=1&amp;b=2">q</a>"#,
        "",
    ),
    (r#"<p CLASS="X">u</p>"#, r#"<p class="X">u</p>"#, ""),
    (
        r#"&amp; &copy; &nbsp; &#169; &bogus;"#,
        r#"&amp; &copy; &nbsp; &#169; &amp;bogus;"#,
        "",
    ),
    (r#""quotes" and 'single'"#, r#""quotes" and 'single'"#, ""),
    // The spec writes `line1\nline2` (newline) → unchanged.
    ("line1\nline2", "line1\nline2", ""),
    // The spec writes: unchanged.
    ("emoji 👍 ok", "emoji 👍 ok", ""),
];

#[test]
fn every_row_of_the_spec_table_holds() {
    let mut failures = Vec::new();
    for (input, spec_output, dropped) in SPEC_TABLE {
        let want = if dropped.is_empty() {
            spec_output.to_string()
        } else {
            // Only ever the body of a script or style element, and only once.
            assert!(
                input.contains(&format!(">{dropped}</script>"))
                    || input.contains(&format!(">{dropped}</style>")),
                "{input:?}: {dropped:?} is not a script or style body"
            );
            assert_eq!(spec_output.matches(dropped).count(), 1, "{spec_output:?}");
            spec_output.replacen(dropped, "", 1)
        };
        let got = sanitize(input);
        if got.as_str() != want {
            failures.push(format!("{input:?}: got {:?}, want {want:?}", got.as_str()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Inputs beyond the table, each with the output of bleach 6.4.0 called as the reference calls
/// it (`bleach.clean(value, tags=…, attributes=…, strip=True)`).
const BLEACH_BEYOND_THE_TABLE: &[(&str, &str)] = &[
    (r#"&#xA9;"#, r#"&#xA9;"#),
    (r#"&#XA9;"#, r#"&#XA9;"#),
    (r#"&#00169;"#, r#"&#00169;"#),
    (r#"&#x1F600;"#, r#"&#x1F600;"#),
    (r#"&#128512;"#, r#"&#128512;"#),
    (r#"&#38;"#, r#"&#38;"#),
    (r#"&#x26;lt;"#, r#"&#x26;lt;"#),
    (r#"&#60;script&#62;"#, r#"&#60;script&#62;"#),
    (r#"&#0;"#, r#"&#0;"#),
    (r#"&#x110000;"#, r#"&#x110000;"#),
    (r#"&#;"#, r#"&#;"#),
    (r#"&#169"#, r#"&amp;#169"#),
    (r#"&#169;&#169"#, r#"&#169;&amp;#169"#),
    (r#"&copy"#, r#"&amp;copy"#),
    (r#"&copy x"#, r#"&amp;copy x"#),
    (r#"&copy;x"#, r#"&copy;x"#),
    (r#"&copy&copy;"#, r#"&amp;copy&copy;"#),
    (r#"&amp"#, r#"&amp;amp"#),
    (r#"a &amp b"#, r#"a &amp;amp b"#),
    (r#"&COPY;"#, r#"&COPY;"#),
    (r#"&Copy;"#, r#"&amp;Copy;"#),
    (r#"&AMP;"#, r#"&AMP;"#),
    (r#"&hellip;"#, r#"&hellip;"#),
    (r#"&HELLIP;"#, r#"&amp;HELLIP;"#),
    (r#"&co;"#, r#"&co;"#),
    (r#"&notin;"#, r#"&notin;"#),
    (r#"&noti;"#, r#"&noti;"#),
    (r#"&notit;"#, r#"&amp;notit;"#),
    (r#"a&b;"#, r#"a&b;"#),
    (r#"&;"#, r#"&amp;;"#),
    (r#"&&amp;"#, r#"&amp;&amp;"#),
    (r#"&ampamp;"#, r#"&amp;ampamp;"#),
    (r#"&amp;amp;"#, r#"&amp;amp;"#),
    (r#"&amp;lt;"#, r#"&amp;lt;"#),
    (r#"&lt;b&gt;bold&lt;/b&gt;"#, r#"&lt;b&gt;bold&lt;/b&gt;"#),
    (
        r#"&lt;&gt;&amp;&quot;&apos;"#,
        r#"&lt;&gt;&amp;&quot;&apos;"#,
    ),
    (r#"<b>&copy;</b>"#, r#"<b>&copy;</b>"#),
    (r#"&copy;<b>x</b>&amp;"#, r#"&copy;<b>x</b>&amp;"#),
    (r#"<b>&</b>"#, r#"<b>&amp;</b>"#),
    (r#"<p>&amp;&amp;</p>"#, r#"<p>&amp;&amp;</p>"#),
    (r#"<b>a<b"#, r#"<b>a&lt;b</b>"#),
    (r#"<textarea>&copy;</textarea>"#, r#"&copy;"#),
    (r#"<noscript>&copy;</noscript>"#, r#"&copy;"#),
    (r#"<a title="&copy;">x</a>"#, r#"<a title="&copy;">x</a>"#),
    (r#"<a title="&copy">x</a>"#, r#"<a title="&amp;copy">x</a>"#),
    (
        r#"<a title="&hellip;">x</a>"#,
        r#"<a title="&amp;hellip;">x</a>"#,
    ),
    (
        r#"<a title="&bogus;">x</a>"#,
        r#"<a title="&amp;bogus;">x</a>"#,
    ),
    (r#"<a title="&#xA9;">x</a>"#, r#"<a title="&#xA9;">x</a>"#),
    (r#"<a title="&#0;">x</a>"#, r#"<a title="&amp;#0;">x</a>"#),
    (
        r#"<a title="&amp;amp;">x</a>"#,
        r#"<a title="&amp;amp;">x</a>"#,
    ),
    (
        r#"<a title="&quot;hi&quot;">x</a>"#,
        r#"<a title="&quot;hi&quot;">x</a>"#,
    ),
    (r#"<a class="&co;">x</a>"#, r#"<a class="&amp;co;">x</a>"#),
    (
        r#"<a title='say "hi"'>x</a>"#,
        r#"<a title='say "hi"'>x</a>"#,
    ),
    (
        r#"<a title='"&copy;'>x</a>"#,
        r#"<a title='"&amp;copy;'>x</a>"#,
    ),
    (r#"<a title="it's">x</a>"#, r#"<a title="it's">x</a>"#),
    (r#"<a title="a<b>c">x</a>"#, r#"<a title="a&lt;b>c">x</a>"#),
    ("<a title=\"a\u{A0}b\">x</a>", "<a title=\"a\u{A0}b\">x</a>"),
    (
        r#"<a href="https://e.com/?a=1&amp;b=2">q</a>"#,
        r#"<a href="https://e.com/?a=1&amp;b=2">q</a>"#,
    ),
    (
        r#"<a href="https://e.com/?a=1&copy=2">q</a>"#,
        r#"<a href="https://e.com/?a=1&amp;copy=2">q</a>"#,
    ),
    (
        r#"<a href="https://e.com/?a=1&copy;=2">q</a>"#,
        r#"<a href="https://e.com/?a=1&copy;=2">q</a>"#,
    ),
    (r#"<a href="/p?a&b">q</a>"#, r#"<a href="/p?a&amp;b">q</a>"#),
    (r#"<a href="javascript&#58;alert(1)">x</a>"#, r#"<a>x</a>"#),
    (
        r#"<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)">x</a>"#,
        r#"<a>x</a>"#,
    ),
    (
        r#"<a href="java&#x09;script:alert(1)">x</a>"#,
        r#"<a>x</a>"#,
    ),
    (
        r#"<a href="javascript&colon;alert(1)">x</a>"#,
        r#"<a href="javascript&amp;colon;alert(1)">x</a>"#,
    ),
    (
        r#"<a href="javascript&#0000058alert(1)">x</a>"#,
        r#"<a href="javascript&amp;#0000058alert(1)">x</a>"#,
    ),
    (
        r#"<a href="http&#58;//e.com">x</a>"#,
        r#"<a href="http&#58;//e.com">x</a>"#,
    ),
    (
        r#"<a href="mailto&#58;a@b.c">x</a>"#,
        r#"<a href="mailto&#58;a@b.c">x</a>"#,
    ),
    (
        r#"<a href="//evil.com">x</a>"#,
        r#"<a href="//evil.com">x</a>"#,
    ),
    (r#"<a href>x</a>"#, r#"<a href="">x</a>"#),
    (r#"café ñ 日本語 😀"#, r#"café ñ 日本語 😀"#),
    (
        r#"ünïcödé &eacute; &Eacute;"#,
        r#"ünïcödé &eacute; &Eacute;"#,
    ),
    (r#"<b>naïve</b> &euro;"#, r#"<b>naïve</b> &euro;"#),
    ("x\u{A0}y", "x\u{A0}y"),
    ("tab\there", "tab\there"),
    ("a\x01b\x0bc\x1fd\x7fe", "a?b?c?d\x7fe"),
    ("\u{FEFF}bom", "\u{FEFF}bom"),
    ("\u{200B} zero width", "\u{200B} zero width"),
    (
        "\u{FDD0}\u{FDD1}\u{FDD2}\u{FDD3}&copy;",
        "\u{FDD0}\u{FDD1}\u{FDD2}\u{FDD3}&copy;",
    ),
    ("<a title=\"\u{FDD0}\">x</a>", "<a title=\"\u{FDD0}\">x</a>"),
    (r#"1 < 2 && 3 > 2"#, r#"1 &lt; 2 &amp;&amp; 3 &gt; 2"#),
    (r#"<3 you"#, r#"&lt;3 you"#),
    // bleach replaces control characters in text with `?`, but not a form feed at either end of
    // a text node, nor in attribute values.
    ("a\x0cb", "a?b"),
    ("x \x0c<b>y</b>", "x \x0c<b>y</b>"),
    ("<b>\x0cx\x0c</b>", "<b>\x0cx\x0c</b>"),
    ("<p>\x0c \x01</p>", "<p>\x0c ?</p>"),
    (
        "<a title=\"a\x01b\x0bc\">x</a>",
        "<a title=\"a\x01b\x0bc\">x</a>",
    ),
    // bleach keeps references only in values it writes with `"`.
    (
        r#"<a title='"&amp;'>x</a>"#,
        r#"<a title='"&amp;amp;'>x</a>"#,
    ),
    (r#"<a title="'&copy;">x</a>"#, r#"<a title="'&copy;">x</a>"#),
];

#[test]
fn beyond_the_table_the_output_is_bleachs() {
    let mut failures = Vec::new();
    for (input, bleach) in BLEACH_BEYOND_THE_TABLE {
        let got = sanitize(input);
        if got.as_str() != *bleach {
            failures.push(format!(
                "{input:?}: got {:?}, bleach {bleach:?}",
                got.as_str()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn where_we_differ_from_bleach_we_keep_less_markup_or_more_of_the_users_text() {
    for (input, ours) in [
        // DECISIONS 29: bleach keeps script and style bodies as text (`&copy;x`).
        ("<script>&copy;</script>x", "x"),
        ("<style>&amp;</style>y", "y"),
        // bleach writes `&#1;;`, losing the `a`.
        ("&#1a;", "&amp;#1a;"),
        // ammonia drops SVG and MathML with their content; bleach keeps the text (`x`) and
        // allowed tags inside them.
        ("<math><mi>x</mi></math>", ""),
        ("<svg><a href='https://e.com'>y</a></svg>", ""),
    ] {
        assert_eq!(sanitize(input).as_str(), ours, "{input:?}");
    }
}

#[test]
fn the_users_own_marker_characters_are_kept_and_never_become_references() {
    for (input, ours) in [
        (
            "\u{FDD0}lt;b\u{FDD1}gt;\u{FDD2}",
            "\u{FDD0}lt;b\u{FDD1}gt;\u{FDD2}",
        ),
        ("\u{FDD3}", "\u{FDD3}"),
        ("x\u{FDD3}&copy;\u{FDD3}", "x\u{FDD3}&copy;\u{FDD3}"),
        (
            "<a title=\"\u{FDD3}\u{FDD2}&amp;\">x</a>",
            "<a title=\"\u{FDD3}\u{FDD2}&amp;\">x</a>",
        ),
        // To a browser this is a relative URL (U+FDD0 is no scheme character), as to bleach.
        (
            "<a href=\"javascript\u{FDD0}#58;alert(1)\">x</a>",
            "<a href=\"javascript\u{FDD0}#58;alert(1)\">x</a>",
        ),
    ] {
        assert_eq!(sanitize(input).as_str(), ours, "{input:?}");
    }
}

#[test]
fn plain_text_skips_the_parser_and_comes_out_as_the_parser_would_write_it() {
    for input in [
        "Hello everyone",
        "emoji 👍 ok",
        "line1\nline2\ttab",
        "\"quotes\" and 'single'",
        "\u{200B} zero width and \u{FFFD}",
    ] {
        assert_eq!(sanitize(input).as_str(), input);
        assert_eq!(sanitize_markup(input), input);
    }
}

#[test]
fn text_the_fast_path_takes_is_what_the_parser_writes_back_unchanged() {
    // The fast path returns its input as it came: across the spec's table, the generated markup
    // below and a generated corpus of text around every character it checks for (and the
    // controls, spaces, quotes and non-ASCII it lets through), whatever it takes must come out
    // of ammonia and the wrapper byte for byte as it went in.
    const PIECES: &[&str] = &[
        "Hello",
        " ",
        "  ",
        "\n",
        "\t",
        "\r",
        "\r\n",
        "\u{0B}",
        "\u{0C}",
        "\u{7F}",
        "\u{85}",
        "\u{A0}",
        "\u{FEFF}",
        "\u{200B}",
        "\u{2028}",
        "\u{FFFD}",
        "\u{FDD0}",
        "\u{1F44B}",
        "é",
        "\"",
        "'",
        "`",
        "=",
        "/",
        "\\",
        ";",
        "#",
        "x",
        "amp",
        "lt",
        "https://e.com/?a=1",
        "<",
        ">",
        "&",
        "&amp;",
        "&#38;",
        "<b>",
        "</b>",
        "<!--",
        "a<b",
        "1 > 0",
        "\u{1}",
        "\u{0}",
    ];
    let corpus = mixes(PIECES, 20_000, 0x2545_F491_4F6C_DD1D);
    let table = SPEC_TABLE.iter().map(|(input, _, _)| input.to_string());
    let mut taken = 0;
    for input in corpus
        .into_iter()
        .chain(table)
        .chain(generated_inputs(5_000))
    {
        if is_plain_text(&input) {
            taken += 1;
            assert_eq!(sanitize_markup(&input), input, "{input:?}");
            assert_eq!(sanitize(&input).as_str(), input, "{input:?}");
        }
    }
    // The corpus exercises the fast path, not only the parser.
    assert!(taken > 2_000, "{taken}");
}

/// A fixed pseudo-random mix of markup, references, quotes and URLs.
fn generated_inputs(count: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "&",
        ";",
        "#",
        "x",
        "A9",
        "copy",
        "amp",
        "co",
        "hellip",
        "quot",
        "'",
        "\"",
        " ",
        "=",
        ":",
        "&#58;",
        "&#x3A;",
        "&colon;",
        "&#106;",
        "/",
        "javascript",
        "https://e.com/?a=1",
        "é",
        "\u{A0}",
        "\u{FDD0}",
        "\u{FDD3}",
        "<a href=\"",
        "<a href='",
        "<a title=\"",
        "<b class='",
        "\">",
        "'>",
        "</a>",
        "<p>",
        "</p>",
        "<script>",
        "</script>",
        "<!--",
        "-->",
        "<",
        ">",
    ];
    mixes(PIECES, count, 0x9E37_79B9_7F4A_7C15)
}

/// `count` strings of 1 to 12 `pieces` each, drawn by a fixed xorshift from `seed`.
fn mixes(pieces: &[&str], count: usize, seed: u64) -> Vec<String> {
    let mut state = seed;
    let mut next = |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    (0..count)
        .map(|_| {
            let len = 1 + next(12);
            (0..len).map(|_| pieces[next(pieces.len())]).collect()
        })
        .collect()
}

/// The tags of `html` in order, each with its attribute names, values left out.
fn skeleton(html: &str) -> Vec<String> {
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let mut tag = String::new();
        let mut quote = None;
        let mut in_name = true;
        let mut end = rest.len();
        for (i, c) in rest[open + 1..].char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '>') => {
                    end = open + 1 + i + 1;
                    break;
                }
                (None, '=') => in_name = false,
                (None, ' ') => {
                    in_name = true;
                    tag.push(' ');
                }
                (None, c) if in_name => tag.push(c),
                (None, _) => {}
            }
        }
        tags.push(tag);
        rest = &rest[end..];
    }
    tags
}

#[test]
fn ammonia_keeps_every_tag_and_attribute_we_write() {
    for input in generated_inputs(3000) {
        let ours = sanitize(&input);
        let again = builder().clean(ours.as_str()).to_string();
        assert_eq!(
            skeleton(&again),
            skeleton(ours.as_str()),
            "input {input:?}, ours {:?}, ammonia on ours {again:?}",
            ours.as_str()
        );
        let markers = |s: &str| {
            s.chars()
                .filter(|c| ('\u{FDD0}'..='\u{FDD3}').contains(c))
                .count()
        };
        assert!(
            markers(ours.as_str()) <= markers(&input),
            "{input:?} → {:?}",
            ours.as_str()
        );
    }
}

/// `MAX_ESCAPE_GROWTH` bounds what escaping does to any character, in text and in attribute
/// values (quoted either way or not at all), and `"` in an attribute value reaches it.
#[test]
fn escaping_grows_a_character_at_most_max_escape_growth_fold() {
    let n = 40;
    for c in ['&', '<', '>', '"', '\'', '\u{A0}', '\u{FDD0}', '\u{7}', 'é'] {
        let run: String = std::iter::repeat_n(c, n).collect();
        for input in [
            run.clone(),
            format!("x{run}"),
            format!("<a title=\"{run}\">x</a>"),
            format!("<a title='{run}'>x</a>"),
            format!("<a title=x{run}'>x</a>"),
            format!("<a href='https://e.x/?q={run}'>x</a>"),
        ] {
            let out = sanitize(&input);
            assert!(
                out.as_str().chars().count() <= MAX_ESCAPE_GROWTH * input.chars().count(),
                "{input:?} → {:?}",
                out.as_str()
            );
        }
    }
    let quotes = "\"".repeat(n);
    assert_eq!(
        sanitize(&format!("<a title=x{quotes}'>x</a>")).as_str(),
        format!("<a title=\"x{}'\">x</a>", "&quot;".repeat(n))
    );
}
