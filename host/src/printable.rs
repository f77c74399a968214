//! Text from a plugin (its manifest, its errors, the output of commands it ran), made safe
//! to print on a terminal. An escape sequence could move the cursor and erase the lines
//! above it (a capability line of `host inspect`), recolour or retitle the terminal, and
//! a newline or a bidi override could forge a line the host did not write. Every such
//! character is shown as its escape (`\u{1b}`) instead, so the reader sees it is there.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1) and bidi control shown escaped.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Characters a terminal acts on rather than shows, or that reorder what it shows.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_line_breaks_are_shown_not_acted_on() {
        assert!(matches!(printable("zync-database 0.2.0"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[3A\u{1b}[0Jb"), "a\\u{1b}[3A\\u{1b}[0Jb");
        assert_eq!(printable("x\ny\r"), "x\\u{a}y\\u{d}");
        // C1 CSI, which some terminals take like ESC [.
        assert_eq!(printable("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(printable("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(printable("tab\there"), "tab\\u{9}here");
        assert_eq!(printable("zażółć ✓"), "zażółć ✓");
    }
}
