//! One job's log: a stored `log.gz` or the live tail of a running job, kept as inert lines
//! with bounded memory (oldest lines dropped first).

use std::collections::VecDeque;
use std::sync::LazyLock;

use regex::Regex;

use crate::protocol::messages::LogChunk;
use crate::protocol::sanitize;

/// Where the log comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    Live {
        uuid: String,
        worker: Option<String>,
    },
    Stored {
        uuid: String,
        container: String,
        swift_dir: String,
    },
}

impl LogSource {
    pub fn uuid(&self) -> &str {
        match self {
            LogSource::Live { uuid, .. } | LogSource::Stored { uuid, .. } => uuid,
        }
    }
}

/// autopkgtest's summary marker: `autopkgtest [12:00:00]: @@@@@@@@@@@@@@@@@@@@ summary`.
// Literal patterns, exercised by the unit tests: `expect` cannot fire on input.
#[allow(clippy::expect_used)]
static SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"@@@@@@@@@@@@@@@@@@@@ summary").expect("static regex"));
/// A test result line: `hello-test           FAIL non-zero exit status 1`.
#[allow(clippy::expect_used)]
static FAIL_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\S+)\s+FAIL\b").expect("static regex"));

/// Longest line held: a longer one is broken there.
pub const MAX_LINE: usize = 64 << 10;

#[derive(Debug, Clone)]
pub struct LogBuffer {
    pub uuid: String,
    pub source: LogSource,
    /// Complete lines, already inert.
    lines: VecDeque<String>,
    /// The unfinished last line, already inert (shown, so output appears at once).
    partial: String,
    bytes: usize,
    /// Lines dropped from the front to bound memory.
    dropped: usize,
    max_lines: usize,
    max_bytes: usize,
    /// Next byte offset expected from a live stream.
    next_offset: u64,
    /// Bytes the live stream skipped (the reader should have asked for a replay).
    pub missed: u64,
    pub eof: bool,
    pub loaded: bool,
    pub error: Option<String>,
    /// A stored log longer than the reader's cap: the cap in bytes (`ops::read::LOG_READ_CAP`).
    pub cut_at: Option<u64>,
    /// The text as it arrived (escapes and all), for saving to a file: never drawn. Bounded
    /// like the lines, oldest pieces dropped first.
    raw: VecDeque<String>,
    raw_bytes: usize,
    /// Raw bytes dropped from the front to bound memory.
    pub raw_dropped: usize,
}

impl LogBuffer {
    pub fn new(source: LogSource, max_lines: usize, max_bytes: usize) -> Self {
        Self {
            uuid: source.uuid().to_string(),
            source,
            lines: VecDeque::new(),
            partial: String::new(),
            bytes: 0,
            dropped: 0,
            max_lines: max_lines.max(1),
            max_bytes: max_bytes.max(1),
            next_offset: 0,
            missed: 0,
            eof: false,
            loaded: false,
            error: None,
            cut_at: None,
            raw: VecDeque::new(),
            raw_bytes: 0,
            raw_dropped: 0,
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self.source, LogSource::Live { .. })
    }

    /// Replace the content with a whole stored log.
    pub fn set_text(&mut self, text: &str) {
        self.lines.clear();
        self.partial.clear();
        self.bytes = 0;
        self.dropped = 0;
        self.raw.clear();
        self.raw_bytes = 0;
        self.raw_dropped = 0;
        self.push(text);
        self.loaded = true;
        self.eof = true;
    }

    /// Add a piece of a live log, skipping what was already seen.
    pub fn append_chunk(&mut self, chunk: &LogChunk) {
        self.loaded = true;
        // Offsets come from the wire: a hostile one must not overflow.
        let end = chunk.offset.saturating_add(chunk.data.len() as u64);
        if end <= self.next_offset && !chunk.data.is_empty() {
            return;
        }
        let mut data = chunk.data.as_str();
        if chunk.offset < self.next_offset {
            let skip = usize::try_from(self.next_offset - chunk.offset).unwrap_or(usize::MAX);
            data = data.get(skip..).unwrap_or(data);
        } else if chunk.offset > self.next_offset {
            self.missed = self.missed.saturating_add(chunk.offset - self.next_offset);
        }
        self.push(data);
        self.next_offset = self.next_offset.max(end);
        self.eof |= chunk.eof;
    }

    fn push(&mut self, raw: &str) {
        self.keep_raw(raw);
        let raw = raw.replace("\r\n", "\n");
        let text = sanitize::inert(&raw, true);
        let mut parts = text.split('\n');
        if let Some(first) = parts.next() {
            self.partial.push_str(first);
            self.break_partial();
        }
        for part in parts {
            let done = std::mem::replace(&mut self.partial, part.to_string());
            self.bytes += done.len();
            self.lines.push_back(done);
            self.break_partial();
        }
        while self.lines.len() > self.max_lines
            || (self.bytes > self.max_bytes && !self.lines.is_empty())
        {
            if let Some(l) = self.lines.pop_front() {
                self.bytes -= l.len();
                self.dropped += 1;
            }
        }
    }

    /// A line that never ends (output that only ever returns the carriage, or a hostile
    /// stream) is broken every [`MAX_LINE`] bytes: the partial line is not trimmed with the
    /// others and is searched and drawn on every frame.
    fn break_partial(&mut self) {
        while self.partial.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !self.partial.is_char_boundary(cut) {
                cut -= 1;
            }
            let rest = self.partial.split_off(cut);
            let done = std::mem::replace(&mut self.partial, rest);
            self.bytes += done.len();
            self.lines.push_back(done);
        }
    }

    /// Absolute index of the first line still held.
    pub fn first(&self) -> usize {
        self.dropped
    }

    /// One past the absolute index of the last line (the partial line counts).
    pub fn end(&self) -> usize {
        self.dropped + self.lines.len() + usize::from(!self.partial.is_empty())
    }

    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// The line at absolute index `i` (inert text).
    pub fn get(&self, i: usize) -> Option<&str> {
        let rel = i.checked_sub(self.dropped)?;
        match self.lines.get(rel) {
            Some(l) => Some(l),
            None if rel == self.lines.len() && !self.partial.is_empty() => Some(&self.partial),
            None => None,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes + self.partial.len() + self.lines.len() * 24
    }

    /// The first line at or after `from` (forward) or before `from` (backward) matching `re`.
    pub fn find(&self, re: &Regex, from: usize, forward: bool) -> Option<usize> {
        let (first, end) = (self.first(), self.end());
        if forward {
            (from.max(first)..end).find(|&i| self.get(i).is_some_and(|l| re.is_match(l)))
        } else {
            (first..from.min(end))
                .rev()
                .find(|&i| self.get(i).is_some_and(|l| re.is_match(l)))
        }
    }

    /// The last summary marker (autopkgtest prints it once, at the end).
    pub fn summary_line(&self) -> Option<usize> {
        self.find(&SUMMARY, self.end(), false)
    }

    /// Where the first failing test starts: its `test NAME: [---` line when present, else its
    /// result line.
    pub fn first_failure(&self) -> Option<usize> {
        let at = self.find(&FAIL_LINE, self.first(), true)?;
        let name = FAIL_LINE
            .captures(self.get(at)?)?
            .get(1)?
            .as_str()
            .to_string();
        let start = format!("test {name}: [-");
        (self.first()..at)
            .find(|&i| self.get(i).is_some_and(|l| l.contains(&start)))
            .or(Some(at))
    }

    fn keep_raw(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        self.raw_bytes += piece.len();
        self.raw.push_back(piece.to_string());
        while self.raw_bytes > self.max_bytes && self.raw.len() > 1 {
            if let Some(p) = self.raw.pop_front() {
                self.raw_bytes -= p.len();
                self.raw_dropped += p.len();
            }
        }
    }

    /// The held text as it arrived (escape sequences included), for a file, never a screen.
    pub fn raw_text(&self) -> String {
        let mut out = String::with_capacity(self.raw_bytes);
        for p in &self.raw {
            out.push_str(p);
        }
        out
    }

    /// The whole held text (inert), for saving.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.bytes + self.lines.len() + self.partial.len());
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(&self.partial);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> LogBuffer {
        LogBuffer::new(
            LogSource::Live {
                uuid: "u".into(),
                worker: None,
            },
            5,
            1 << 20,
        )
    }

    fn chunk(offset: u64, data: &str) -> LogChunk {
        LogChunk {
            uuid: "u".into(),
            worker: "w".into(),
            offset,
            data: data.into(),
            eof: false,
        }
    }

    #[test]
    fn live_chunks_join_lines_skip_repeats_and_bound_memory() {
        let mut log = live();
        log.append_chunk(&chunk(0, "one\ntw"));
        assert_eq!(log.get(1), Some("tw"), "a partial line shows at once");
        log.append_chunk(&chunk(0, "one\ntw"));
        log.append_chunk(&chunk(6, "o\nthree\n"));
        assert_eq!(
            (log.get(0), log.get(1), log.get(2)),
            (Some("one"), Some("two"), Some("three"))
        );
        assert_eq!(log.end(), 3);
        log.append_chunk(&chunk(14, "4\n5\n6\n7\n"));
        assert_eq!(log.first(), 2);
        assert_eq!(log.get(2), Some("three"));
        assert_eq!(log.get(0), None);
        log.append_chunk(&chunk(100, "x\n"));
        assert_eq!(log.missed, 100 - 22);
    }

    /// Output that never ends a line (progress bars redrawn with a carriage return) is held as
    /// lines of at most MAX_LINE, trimmed like any others, not as one line that grows.
    #[test]
    fn a_line_that_never_ends_is_broken_and_trimmed() {
        let mut log = live();
        let piece = "é".repeat(10_000) + "\r";
        let mut offset = 0u64;
        for _ in 0..200 {
            log.append_chunk(&chunk(offset, &piece));
            offset += piece.len() as u64;
        }
        assert!(log.partial.len() <= MAX_LINE, "{}", log.partial.len());
        assert!(log.lines.iter().all(|l| l.len() <= MAX_LINE));
        assert!(log.lines.len() <= 5 && log.dropped > 0);
        assert_eq!(log.next_offset, offset);
    }

    #[test]
    fn finds_summary_and_first_failure() {
        let mut log = LogBuffer::new(
            LogSource::Live {
                uuid: "u".into(),
                worker: None,
            },
            100,
            1 << 20,
        );
        log.set_text(crate::console::demo::LOG);
        let s = log.summary_line().expect("summary");
        assert!(log.get(s).is_some_and(|l| l.contains("@@@@ summary")));
        let f = log.first_failure().expect("failure");
        assert!(
            log.get(f)
                .is_some_and(|l| l.contains("test upstream-suite: [-")),
            "{:?}",
            log.get(f)
        );
    }
}
