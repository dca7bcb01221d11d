//! The one door between untrusted text and an operator's terminal.
//!
//! Test logs, package names, triggers and requesters come from strangers. Before any of it is
//! printed or drawn, escape sequences (CSI, OSC including OSC 52 clipboard writes, DCS, APC,
//! PM, SOS), C0 and C1 controls and DEL are made inert: controls become caret or `\u{..}`
//! notation, so an operator still sees that something odd was there. Invisible format
//! characters that can disguise a line (zero-width, bidirectional marks, overrides and
//! isolates, line and paragraph separators, the byte-order mark) are shown the same way.
//!
//! [`cap`] is the other half: every header and reason adtop writes is cut to a size.

/// Make `s` safe to show on a terminal. Tabs become spaces; newlines are kept only when
/// `keep_newlines` (log text), otherwise shown as `^J`.
pub fn inert(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\t' => out.push_str("    "),
            '\u{7f}' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            // C1 controls (U+0080..U+009F) are 8-bit CSI/OSC/DCS to some terminals.
            c if ('\u{80}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c if disguising(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Invisible characters that change how a line reads: zero-width spaces and joiners, the
/// bidirectional marks, embeddings, overrides and isolates, the line and paragraph separators,
/// and the byte-order mark.
fn disguising(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` and the number of bytes
/// left out when it was cut, so that a reader knows there was more.
pub fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let kept = s.get(..end).unwrap_or_default();
    format!("{kept}… ({} more bytes)", s.len() - end)
}

/// The size of every reason adtop writes into a header or a message (a rejection, a failure).
pub const REASON_MAX: usize = 1024;

/// One line of untrusted text, newlines shown as `^J`.
pub fn line(s: &str) -> String {
    inert(s, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_visible_and_inert() {
        let hostile = "a\x1b[2Jb\x1b]52;c;ZXZpbA==\x07c\u{9b}31md\x00e\x7f\u{202e}f";
        let out = line(hostile);
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
        assert_eq!(out, "a^[[2Jb^[]52;c;ZXZpbA==^Gc\\u{9b}31md^@e^?\\u{202e}f");
    }

    #[test]
    fn invisible_format_characters_are_shown() {
        for c in [
            '\u{200b}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{061c}',
            '\u{2028}', '\u{2029}', '\u{feff}',
        ] {
            let out = line(&format!("a{c}b"));
            assert_eq!(out, format!("a\\u{{{:x}}}b", c as u32));
        }
        assert_eq!(line("é漢"), "é漢");
    }

    #[test]
    fn cap_cuts_on_a_character_boundary_and_says_so() {
        assert_eq!(cap("short", 10), "short");
        let long = "é".repeat(100);
        let out = cap(&long, 5);
        assert_eq!(out, "éé… (196 more bytes)");
        assert_eq!(cap("", 0), "");
    }

    #[test]
    fn logs_keep_lines() {
        assert_eq!(inert("x\ny\tz", true), "x\ny    z");
        assert_eq!(line("x\ny"), "x^Jy");
    }
}
