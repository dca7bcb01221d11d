//! The terminal loop: input, model events and a one-second tick, one frame per burst.

use std::io;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use super::app::App;
use super::config::ConsoleConfig;
use super::event::ModelEvent;
use super::model::{Level, Model};
use super::op::Outbound;
use super::views;

/// Restores the terminal when the loop ends, whichever way (ratatui's init also installs a
/// panic hook that restores it before the panic message prints).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Run the console until the operator quits. `events` feeds the model (from the broker and
/// store readers and the operation executors); what the console asks for leaves on `out`.
/// The console never exits on its own when a connection drops, or when `events` closes.
pub async fn run(
    config: ConsoleConfig,
    mut events: mpsc::Receiver<ModelEvent>,
    out: mpsc::UnboundedSender<Outbound>,
) -> anyhow::Result<()> {
    let (keymap, theme, warnings) = config.load_ui();
    let mut model = Model::new(Utc::now(), config.thresholds.clone());
    if !warnings.is_empty() {
        model.set_status(Level::Error, warnings.join("; "));
    }
    let mut app = App::new(model, keymap, theme, &config);
    // Armed first, so that a half-done setup is undone too.
    let _restore = Restore;
    let mut terminal = ratatui::try_init()?;
    event_loop(&mut terminal, &mut app, &mut events, &out).await
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    events: &mut mpsc::Receiver<ModelEvent>,
    out: &mpsc::UnboundedSender<Outbound>,
) -> anyhow::Result<()> {
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut events_open = true;
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|f| views::draw(f, app))?;
            dirty = false;
        }
        tokio::select! {
            ev = events.recv(), if events_open => match ev {
                Some(ev) => {
                    dirty |= app.apply(ev);
                    // Drain the burst: 200 heartbeats make one frame, not 200.
                    while let Ok(ev) = events.try_recv() {
                        dirty |= app.apply(ev);
                    }
                }
                None => {
                    events_open = false;
                    app.model.set_status(Level::Error, "event feed closed: data is no longer updated");
                    dirty = true;
                }
            },
            key = input.next() => match key {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    for o in app.handle_key(k) {
                        // The receiver is gone only at shutdown; nothing to do then.
                        let _ = out.send(o);
                    }
                    if app.quit {
                        return Ok(());
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(io::Error::other(e).into()),
                None => return Ok(()),
            },
            _ = tick.tick() => {
                dirty |= app.apply(ModelEvent::Tick(Utc::now()));
            }
        }
    }
}
