//! The terminal loop: input, model events and a one-second tick, one frame per burst.

use std::io::{self, Write};
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use super::app::App;
use super::config::ConsoleConfig;
use super::event::ModelEvent;
use super::model::{Level, Model};
use super::op::Outbound;
use super::views;
use crate::ops::beat::Beat;

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
    // adtop's own bytes (OSC 52) go through the renderer's writer, between frames.
    let mut raw = |t: &mut ratatui::DefaultTerminal, bytes: &[u8]| -> io::Result<()> {
        let w = t.backend_mut();
        w.write_all(bytes)?;
        Write::flush(w)
    };
    loop {
        // A fresh input stream each time: the old one is dropped while the pager reads the tty.
        let exit = event_loop(
            &mut terminal,
            &mut app,
            &mut events,
            EventStream::new(),
            &out,
            &mut raw,
        )
        .await?;
        tracing::debug!("console loop stepped out after {} frames", exit.frames);
        match exit.pager {
            Some(text) => super::pager::run(&mut terminal, &mut app, &text).await?,
            None => return Ok(()),
        }
    }
}

/// The clock turns this long after each whole second, when the relay's news of that second
/// (sent on the whole second, [`crate::ops::beat`]) has come in.
const CLOCK_PHASE: Duration = Duration::from_millis(100);
/// News from the feed due this close before the clock's turn is drawn with it: one frame a
/// second for an idle console, not one for the clock and one for each batch of news.
const MERGE: Duration = Duration::from_millis(150);

/// How the loop ended: the operator quit, or the loop stepped aside for `$PAGER`.
pub(super) struct Exit {
    pub frames: u64,
    pub pager: Option<String>,
}

/// Writes adtop's own escape sequences to the terminal (tests collect them instead).
pub(super) type RawWriter<'a, B> = dyn FnMut(&mut Terminal<B>, &[u8]) -> io::Result<()> + 'a;

/// The loop proper, over any backend and input stream (tests drive it with a `TestBackend`).
/// Returns how many frames it drew.
async fn event_loop<B, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    events: &mut mpsc::Receiver<ModelEvent>,
    mut input: S,
    out: &mpsc::UnboundedSender<Outbound>,
    raw: &mut RawWriter<'_, B>,
) -> anyhow::Result<Exit>
where
    B: Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
    S: Stream<Item = io::Result<Event>> + Unpin,
{
    let mut frames = 0u64;
    let mut tick = Beat::every_after(Duration::from_secs(1), CLOCK_PHASE);
    let mut events_open = true;
    let mut dirty = true;
    // A key, a resize or a closed feed: drawn at once, never merged with the clock.
    let mut urgent = true;
    let mut on_screen = Vec::new();
    loop {
        if dirty && (urgent || tick.next_due() > tokio::time::Instant::now() + MERGE) {
            app.keep_selection(app.view);
            let frame = terminal.draw(|f| views::draw(f, app))?;
            frames += 1;
            dirty = false;
            urgent = false;
            // Depths of what is on screen are read live; tell the feed when that changes.
            let shown = app.queues_on_screen(usize::from(frame.area.height));
            if shown != on_screen {
                on_screen = shown;
                let _ = out.send(Outbound::Fetch(super::op::Fetch::Watch {
                    queues: on_screen.clone(),
                }));
            }
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
                    urgent = true;
                }
            },
            key = input.next() => match key {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    for o in app.handle_key(k) {
                        // The receiver is gone only at shutdown; nothing to do then.
                        let _ = out.send(o);
                    }
                    if let Some(text) = app.clipboard.take() {
                        raw(terminal, &super::row_actions::osc52(&text))?;
                    }
                    if app.quit {
                        return Ok(Exit { frames, pager: None });
                    }
                    if let Some(text) = app.pager.take() {
                        return Ok(Exit { frames, pager: Some(text) });
                    }
                    if std::mem::take(&mut app.redraw) {
                        terminal.clear()?;
                    }
                    dirty = true;
                    urgent = true;
                }
                Some(Ok(Event::Resize(..))) => {
                    dirty = true;
                    urgent = true;
                }
                Some(Ok(_)) => {}
                // The input stream dropped for the pager leaves a wake-up behind: not an error.
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(Exit { frames, pager: None }),
            },
            _ = tick.tick() => {
                dirty |= app.apply(ModelEvent::Tick(Utc::now()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::demo;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;

    /// `y` writes adtop's own OSC 52 through the renderer's writer, nothing else.
    #[tokio::test]
    async fn y_writes_osc52_through_the_renderers_writer() {
        let mut app = demo::app("dark");
        app.dispatch(crate::console::action::Action::ViewRunning);
        let uuid = app
            .selected(crate::console::view::View::Running)
            .map(|i| app.model.running[i].uuid.clone())
            .expect("a running job");
        let (_tx, mut rx) = mpsc::channel(1);
        let keys = ['y', 'q'].map(|c| {
            Ok(Event::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )))
        });
        let input = futures::stream::iter(keys).chain(futures::stream::pending());
        let (out, _out_rx) = mpsc::unbounded_channel();
        let mut term = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
        let mut written = Vec::new();
        let mut raw = |_: &mut Terminal<TestBackend>, b: &[u8]| {
            written.extend_from_slice(b);
            Ok(())
        };
        event_loop(
            &mut term,
            &mut app,
            &mut rx,
            Box::pin(input),
            &out,
            &mut raw,
        )
        .await
        .expect("loop");
        assert_eq!(written, crate::console::row_actions::osc52(&uuid));
    }

    /// A burst of 200 heartbeats is one frame; a closed event feed does not end the console;
    /// only the operator's `q` does.
    #[tokio::test]
    async fn a_burst_is_one_frame_and_only_quit_ends_the_loop() {
        let mut app = demo::app("dark");
        app.model.now = Utc::now();
        let (tx, mut rx) = mpsc::channel(1000);
        for i in 0..200 {
            let hb = demo::heartbeat(&format!("w{i}"), "amd64", None, app.model.now);
            tx.send(ModelEvent::Heartbeat {
                heartbeat: Box::new(hb),
                received: app.model.now,
            })
            .await
            .expect("send");
        }
        drop(tx);
        let input = futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(Event::Key(KeyEvent::new(
                KeyCode::Char('q'),
                KeyModifiers::NONE,
            )))
        })
        .chain(futures::stream::pending());
        let (out, _out_rx) = mpsc::unbounded_channel();
        let mut term = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
        let mut raw = |_: &mut Terminal<TestBackend>, _: &[u8]| Ok(());
        let frames = event_loop(
            &mut term,
            &mut app,
            &mut rx,
            Box::pin(input),
            &out,
            &mut raw,
        )
        .await
        .expect("loop")
        .frames;
        assert_eq!(app.model.workers.len(), 8 + 200);
        assert!(app.quit);
        // First frame, the burst, the closed feed, the key, and at most one clock second.
        assert!(frames <= 5, "{frames} frames");
        assert!(
            app.model
                .status
                .as_ref()
                .is_some_and(|s| s.text.contains("event feed closed"))
        );
    }
}
