//! The one door between untrusted text and an operator's terminal.
//!
//! Test logs, package names, triggers and requesters come from strangers. Before any of it is
//! printed or drawn, escape sequences (CSI, OSC including OSC 52 clipboard writes, DCS, APC,
//! PM, SOS), C0 and C1 controls and DEL are made inert: controls become caret or `\u{..}`
//! notation, so an operator still sees that something odd was there.

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
            // Bidi overrides and isolates can disguise what a line says.
            c if matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

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
    fn logs_keep_lines() {
        assert_eq!(inert("x\ny\tz", true), "x\ny    z");
        assert_eq!(line("x\ny"), "x^Jy");
    }
}
