//! A ratatui buffer as an SVG picture: monospace text with its colours, for `screenshots/`.

use std::fmt::Write;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

const CELL_W: f32 = 8.4;
const CELL_H: f32 = 17.0;
const DEFAULT_FG: &str = "#d0d0d0";
const DEFAULT_BG: &str = "#1c1c1c";

fn hex(c: Color, default: &str) -> String {
    const BASIC: [&str; 16] = [
        "#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
        "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff",
    ];
    let idx = |i: u8| -> String {
        match i {
            0..16 => BASIC.get(usize::from(i)).unwrap_or(&default).to_string(),
            16..232 => {
                let i = i - 16;
                let v = |x: u8| if x == 0 { 0 } else { 55 + x * 40 };
                format!("#{:02x}{:02x}{:02x}", v(i / 36), v((i / 6) % 6), v(i % 6))
            }
            _ => {
                let g = 8 + (i - 232) * 10;
                format!("#{g:02x}{g:02x}{g:02x}")
            }
        }
    };
    match c {
        Color::Reset => default.to_string(),
        Color::Black => idx(0),
        Color::Red => idx(1),
        Color::Green => idx(2),
        Color::Yellow => idx(3),
        Color::Blue => idx(4),
        Color::Magenta => idx(5),
        Color::Cyan => idx(6),
        Color::Gray => idx(7),
        Color::DarkGray => idx(8),
        Color::LightRed => idx(9),
        Color::LightGreen => idx(10),
        Color::LightYellow => idx(11),
        Color::LightBlue => idx(12),
        Color::LightMagenta => idx(13),
        Color::LightCyan => idx(14),
        Color::White => idx(15),
        Color::Indexed(i) => idx(i),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
    }
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            ' ' => out.push('\u{a0}'),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// Render `buf` as an SVG document; `bg` is the page colour behind cells with no background.
pub fn render(buf: &Buffer, bg: Option<Color>) -> String {
    let area = buf.area;
    let page_bg = bg.map_or(DEFAULT_BG.to_string(), |c| hex(c, DEFAULT_BG));
    let (w, h) = (area.width as f32 * CELL_W, area.height as f32 * CELL_H);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.1} {h:.1}" font-family="'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace" font-size="14">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="{page_bg}"/>"#
    );
    for y in 0..area.height {
        let py = y as f32 * CELL_H;
        // Backgrounds: runs of one colour.
        let mut x = 0;
        while x < area.width {
            let cell = &buf[(area.x + x, area.y + y)];
            let rev = cell.modifier.contains(Modifier::REVERSED);
            let fill = hex(
                if rev { cell.fg } else { cell.bg },
                if rev { DEFAULT_FG } else { &page_bg },
            );
            let start = x;
            while x < area.width {
                let c = &buf[(area.x + x, area.y + y)];
                let r = c.modifier.contains(Modifier::REVERSED);
                if hex(
                    if r { c.fg } else { c.bg },
                    if r { DEFAULT_FG } else { &page_bg },
                ) != fill
                {
                    break;
                }
                x += 1;
            }
            if fill != page_bg {
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.1}" y="{py:.1}" width="{:.1}" height="{CELL_H:.1}" fill="{fill}"/>"#,
                    start as f32 * CELL_W,
                    (x - start) as f32 * CELL_W
                );
            }
        }
        // Text: one <text> per run of the same style, each cell at its column.
        let mut x = 0;
        while x < area.width {
            let cell = &buf[(area.x + x, area.y + y)];
            if cell.symbol().trim().is_empty() {
                x += 1;
                continue;
            }
            let rev = cell.modifier.contains(Modifier::REVERSED);
            let fg = hex(
                if rev { cell.bg } else { cell.fg },
                if rev { &page_bg } else { DEFAULT_FG },
            );
            let bold = cell.modifier.contains(Modifier::BOLD);
            let italic = cell.modifier.contains(Modifier::ITALIC);
            let under = cell.modifier.contains(Modifier::UNDERLINED);
            let dim = cell.modifier.contains(Modifier::DIM);
            let _ = write!(out, r#"<text y="{:.1}" fill="{fg}""#, py + CELL_H * 0.78);
            if bold {
                out.push_str(r#" font-weight="bold""#);
            }
            if italic {
                out.push_str(r#" font-style="italic""#);
            }
            if under {
                out.push_str(r#" text-decoration="underline""#);
            }
            if dim {
                out.push_str(r#" opacity="0.6""#);
            }
            out.push('>');
            let same = |c: &ratatui::buffer::Cell| {
                c.fg == cell.fg && c.bg == cell.bg && c.modifier == cell.modifier
            };
            while x < area.width {
                let c = &buf[(area.x + x, area.y + y)];
                if !same(c) {
                    break;
                }
                if !c.symbol().is_empty() && c.symbol() != " " {
                    let _ = write!(out, r#"<tspan x="{:.1}">"#, x as f32 * CELL_W);
                    escape(c.symbol(), &mut out);
                    out.push_str("</tspan>");
                }
                x += 1;
            }
            out.push_str("</text>\n");
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn writes_text_colours_and_escapes() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 6, 1));
        buf.set_string(
            0,
            0,
            "a<b&",
            Style::default().fg(Color::Red).bg(Color::Rgb(1, 2, 3)),
        );
        let svg = render(&buf, None);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("&lt;") && svg.contains("&amp;"));
        assert!(svg.contains(r##"fill="#cd0000""##));
        assert!(svg.contains(r##"fill="#010203""##));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
