//! `$PAGER` for a log: leave the console's screen, let the pager have the terminal, come back.
//!
//! The pager reads a temporary file of the log as the console shows it (made inert), so even
//! `less -R` or a pager that passes escapes through never sees a byte a test wrote. Without
//! `$PAGER`, plain `less` (no `-R`).

use std::io::{self, Write};

use crossterm::cursor::Show;
use crossterm::execute;
use crossterm::terminal::{Clear, ClearType, EnterAlternateScreen, enable_raw_mode};

use super::app::App;
use super::model::Level;

/// The program and its arguments: `$PAGER` split on blanks, else `less`.
pub fn command(pager: Option<&str>) -> (String, Vec<String>) {
    let mut words = pager
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string);
    match words.next() {
        Some(prog) => (prog, words.collect()),
        None => ("less".into(), Vec::new()),
    }
}

/// Run the pager on `text`, then give the screen back to the console (redrawn from scratch).
pub async fn run(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    text: &str,
) -> anyhow::Result<()> {
    let mut file = tempfile::Builder::new()
        .prefix("adtop-log-")
        .suffix(".log")
        .tempfile()?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    let (prog, args) = command(std::env::var("PAGER").ok().as_deref());
    ratatui::restore();
    let _ = execute!(io::stdout(), Show);
    let status = tokio::process::Command::new(&prog)
        .args(&args)
        .arg(file.path())
        .status()
        .await;
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, Clear(ClearType::All))?;
    // A new terminal has empty buffers, so the next frame is drawn whole onto the cleared
    // screen (`Terminal::clear` would ask the terminal for the cursor position: no need).
    *terminal = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(io::stdout()))?;
    match status {
        Ok(s) if s.success() => app.model.set_status(Level::Info, "back from the pager"),
        Ok(s) => app
            .model
            .set_status(Level::Error, format!("{prog} ended with {s}")),
        Err(e) => app
            .model
            .set_status(Level::Error, format!("cannot run {prog} (set $PAGER): {e}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_from_the_environment_or_plain_less() {
        assert_eq!(command(None), ("less".into(), vec![]));
        assert_eq!(command(Some("  ")), ("less".into(), vec![]));
        assert_eq!(
            command(Some("less -S")),
            ("less".into(), vec!["-S".to_string()])
        );
    }
}
