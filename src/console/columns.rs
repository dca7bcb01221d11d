//! The columns of each table view: title, how much room it wants, and which go first when
//! the terminal is narrow. Names (queue, package, worker, state) are kept; sparklines, rates
//! and other secondary columns are dropped first, so an 80x24 SSH window or a 40-column pane
//! still shows what a row is about. The same list drives sorting (`>` `<` `S`, `:sort`).

use super::view::View;

/// A column of some view. Sorting compares by it (see `App::compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColId {
    // Queues
    Queue,
    Ready,
    Unacked,
    Consumers,
    Oldest,
    PublishRate,
    DeliverRate,
    Depth,
    Alert,
    Priority,
    // Requests (and Priority)
    Position,
    Package,
    Triggers,
    Requester,
    Submitted,
    Age,
    Uuid,
    // Workers
    Health,
    Worker,
    Host,
    Arch,
    Releases,
    State,
    Job,
    Done,
    Failed,
    Tmpfailed,
    Version,
    // Running (and Package, Worker, State, Uuid)
    ReleaseArch,
    Elapsed,
    OfTimeout,
    Silent,
    // Results (and Package, Version, Arch, Worker, Triggers, Uuid)
    Finished,
    Release,
    Result,
    Took,
    // Audit
    At,
    Operator,
    Action,
    Target,
    Ok,
    Outcome,
    // Rejected (and At, Queue, Worker, Package)
    Code,
    Reason,
}

/// One column: `rank` 0 is never dropped; higher ranks shrink to `min`, then go, first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Col {
    pub id: ColId,
    pub title: &'static str,
    /// Narrowest useful width.
    pub min: u16,
    /// Widest wanted: the widest cell on screen, up to this (equal to `min`: a fixed width).
    pub max: u16,
    pub rank: u8,
    /// Share of the room left over once every column has what it wants.
    pub grow: u16,
    /// Numbers and ages sort largest first when chosen; names A to Z.
    pub desc_first: bool,
}

const fn fixed(id: ColId, title: &'static str, width: u16, rank: u8, desc_first: bool) -> Col {
    Col {
        id,
        title,
        min: width,
        max: width,
        rank,
        grow: 0,
        desc_first,
    }
}

/// A name: it gets the width of its widest cell before anything of a higher rank is shown.
const fn name(id: ColId, title: &'static str, min: u16, max: u16, rank: u8, grow: u16) -> Col {
    Col {
        id,
        title,
        min,
        max,
        rank,
        grow,
        desc_first: false,
    }
}

use ColId as C;

const QUEUES: &[Col] = &[
    name(C::Queue, "QUEUE", 8, 60, 0, 3),
    fixed(C::Ready, "READY", 7, 0, true),
    fixed(C::Unacked, "UNACKED", 8, 3, true),
    fixed(C::Consumers, "CONS", 5, 1, true),
    fixed(C::Oldest, "OLDEST", 7, 2, true),
    // Whether workers take from it outlasts how fast it fills.
    fixed(C::PublishRate, "IN/s", 6, 6, true),
    fixed(C::DeliverRate, "OUT/s", 6, 5, true),
    fixed(C::Depth, "DEPTH", 20, 7, true),
    fixed(C::Priority, "PRIO", 5, 4, true),
    fixed(C::Alert, "ALERT", 11, 2, false),
];

const REQUESTS: &[Col] = &[
    fixed(C::Position, "#", 6, 3, false),
    name(C::Package, "PACKAGE", 8, 40, 0, 2),
    name(C::Triggers, "TRIGGERS", 8, 60, 2, 3),
    name(C::Requester, "REQUESTER", 8, 20, 4, 1),
    fixed(C::Submitted, "SUBMITTED", 16, 5, true),
    fixed(C::Age, "AGE", 7, 1, true),
    fixed(C::Priority, "PRIO", 5, 4, true),
    fixed(C::Uuid, "UUID", 36, 6, false),
];

const WORKERS: &[Col] = &[
    fixed(C::Health, "HEALTH", 12, 0, false),
    name(C::Worker, "WORKER", 8, 40, 0, 2),
    name(C::Host, "HOST", 8, 40, 5, 2),
    fixed(C::Arch, "ARCH", 7, 3, false),
    name(C::Releases, "RELEASES", 8, 40, 6, 2),
    name(C::State, "STATE", 5, 14, 0, 0),
    name(C::Job, "JOB", 8, 24, 2, 2),
    fixed(C::Done, "DONE", 5, 4, true),
    fixed(C::Failed, "FAIL", 5, 4, true),
    fixed(C::Tmpfailed, "TMPF", 5, 4, true),
    fixed(C::Version, "VERSION", 8, 7, false),
];

const RUNNING: &[Col] = &[
    name(C::Package, "PACKAGE", 8, 40, 0, 2),
    name(C::ReleaseArch, "RELEASE/ARCH", 12, 24, 2, 1),
    name(C::Worker, "WORKER", 8, 30, 3, 2),
    fixed(C::Elapsed, "ELAPSED", 12, 6, true),
    fixed(C::OfTimeout, "OF TIMEOUT", 13, 4, true),
    fixed(C::Silent, "SILENT", 7, 1, true),
    name(C::State, "STATE", 7, 20, 0, 0),
    fixed(C::Uuid, "UUID", 36, 7, false),
];

const RESULTS: &[Col] = &[
    fixed(C::Finished, "FINISHED", 9, 2, true),
    name(C::Package, "PACKAGE", 8, 40, 0, 2),
    name(C::Version, "VERSION", 8, 30, 5, 2),
    fixed(C::Release, "RELEASE", 8, 3, false),
    fixed(C::Arch, "ARCH", 7, 3, false),
    fixed(C::Result, "RESULT", 10, 0, false),
    fixed(C::Took, "TOOK", 6, 4, true),
    name(C::Worker, "WORKER", 8, 30, 6, 1),
    name(C::Triggers, "TRIGGERS", 8, 60, 7, 2),
    fixed(C::Uuid, "UUID", 36, 8, false),
];

const AUDIT: &[Col] = &[
    fixed(C::At, "AT", 19, 1, true),
    name(C::Operator, "OPERATOR", 8, 16, 3, 1),
    name(C::Host, "HOST", 8, 20, 5, 1),
    name(C::Action, "ACTION", 6, 14, 0, 0),
    // Targets are long (package, triggers, uuid, queue): wide enough to tell them apart.
    name(C::Target, "TARGET", 8, 28, 0, 3),
    fixed(C::Ok, "", 4, 0, false),
    name(C::Outcome, "OUTCOME", 8, 60, 2, 2),
];

const REJECTED: &[Col] = &[
    fixed(C::At, "REJECTED", 19, 2, true),
    name(C::Queue, "SOURCE QUEUE", 10, 40, 1, 2),
    name(C::Worker, "WORKER", 8, 30, 4, 1),
    name(C::Code, "CODE", 6, 16, 3, 0),
    name(C::Package, "PACKAGE", 8, 40, 0, 2),
    name(C::Reason, "REASON", 8, 80, 2, 4),
];

/// The columns of a table view, left to right (the log view has none).
pub fn of(view: View) -> &'static [Col] {
    match view {
        View::Queues => QUEUES,
        View::Requests => REQUESTS,
        View::Workers => WORKERS,
        View::Running => RUNNING,
        View::Results => RESULTS,
        View::Audit => AUDIT,
        View::Rejected => REJECTED,
        View::Log => &[],
    }
}

/// How a view is sorted: by a column, or (`None`) in its own order (queue order for requests,
/// hung first for running jobs, newest first for results and the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    pub column: Option<ColId>,
    pub descending: bool,
}

impl Sort {
    pub fn by(column: ColId, descending: bool) -> Self {
        Self {
            column: Some(column),
            descending,
        }
    }

    /// The next (or previous) column of `view`, in its first direction.
    pub fn step(self, view: View, forward: bool) -> Self {
        let cols = of(view);
        let n = cols.len();
        if n == 0 {
            return self;
        }
        let at = self
            .column
            .and_then(|c| cols.iter().position(|col| col.id == c));
        let next = match (at, forward) {
            (None, true) => 0,
            (None, false) => n - 1,
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
        };
        match cols.get(next) {
            Some(c) => Self::by(c.id, c.desc_first),
            None => self,
        }
    }

    pub fn arrow(self) -> &'static str {
        if self.descending { "↓" } else { "↑" }
    }
}

/// The column of `view` that `name` names: its title or the start of it, any case
/// (`:sort ready`, `:sort pack`), or `name` for the first column.
pub fn find(view: View, name: &str) -> Option<ColId> {
    let name = name.to_ascii_lowercase();
    let cols = of(view);
    cols.iter()
        .find(|c| c.title.to_ascii_lowercase() == name)
        .or_else(|| {
            cols.iter()
                .find(|c| !c.title.is_empty() && c.title.to_ascii_lowercase().starts_with(&name))
        })
        .or_else(|| (name == "name").then(|| cols.first()).flatten())
        .map(|c| c.id)
}

/// The sortable column names of a view, for the error that lists them.
pub fn names(view: View) -> String {
    of(view)
        .iter()
        .filter(|c| !c.title.is_empty())
        .map(|c| c.title.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each column's width in `room` cells, `None` for a column left out. `content[i]` is the
/// widest cell of column `i` on screen (its header included), 0 when every cell on screen is
/// empty: such a column is left out unless it is of rank 0. Columns are one cell apart.
///
/// Every column starts at what it wants (a name: its widest cell); while the row is too wide
/// the column of the highest rank (the rightmost of equals) gives way: first down to its
/// `min`, then entirely. Rank 0 columns are never left out, only narrowed. What is left over
/// goes to the growing columns.
pub fn fit(cols: &[Col], content: &[u16], room: u16) -> Vec<Option<u16>> {
    let mut width: Vec<Option<u16>> = cols
        .iter()
        .zip(content.iter().copied().chain(std::iter::repeat(0)))
        .map(|(c, w)| (w > 0 || c.rank == 0).then(|| w.clamp(c.min, c.max.max(c.min))))
        .collect();
    let total = |width: &[Option<u16>]| -> u32 {
        let shown: Vec<u16> = width.iter().flatten().copied().collect();
        shown.iter().map(|&w| u32::from(w)).sum::<u32>() + shown.len().saturating_sub(1) as u32
    };
    let room32 = u32::from(room);
    loop {
        let over = total(&width).saturating_sub(room32);
        if over == 0 {
            break;
        }
        // The column that gives way: highest rank, rightmost; a rank 0 one only narrows.
        let victim = cols
            .iter()
            .enumerate()
            .filter(|(i, c)| match width.get(*i).copied().flatten() {
                Some(w) => c.rank > 0 || w > c.min,
                None => false,
            })
            .max_by_key(|(i, c)| (c.rank, *i));
        let Some((i, c)) = victim else { break };
        let Some(slot) = width.get_mut(i) else { break };
        let Some(w) = *slot else { break };
        if w > c.min {
            let cut = u16::try_from(over).unwrap_or(u16::MAX).min(w - c.min);
            *slot = Some(w - cut);
        } else {
            *slot = None;
        }
    }
    // A shown column never goes below its minimum unless even names alone do not fit.
    let left = room32.saturating_sub(total(&width));
    let weights: u32 = cols
        .iter()
        .zip(&width)
        .filter(|(_, w)| w.is_some())
        .map(|(c, _)| u32::from(c.grow))
        .sum();
    if left > 0 && weights > 0 {
        let mut given = 0u32;
        let growing: Vec<usize> = cols
            .iter()
            .enumerate()
            .filter(|(i, c)| c.grow > 0 && width.get(*i).copied().flatten().is_some())
            .map(|(i, _)| i)
            .collect();
        let last = growing.last().copied();
        for i in growing {
            let Some(c) = cols.get(i) else { continue };
            let share = if Some(i) == last {
                left - given
            } else {
                left * u32::from(c.grow) / weights
            };
            given += share;
            if let Some(Some(w)) = width.get_mut(i) {
                *w = w.saturating_add(u16::try_from(share).unwrap_or(u16::MAX));
            }
        }
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `content` for the first columns; the others have something narrow to show.
    fn widths(view: View, content: &[u16], room: u16) -> Vec<(&'static str, u16)> {
        let cols = of(view);
        let mut all = content.to_vec();
        all.resize(cols.len(), 1);
        fit(cols, &all, room)
            .into_iter()
            .zip(cols)
            .filter_map(|(w, c)| w.map(|w| (c.title, w)))
            .collect()
    }

    #[test]
    fn wide_terminals_show_every_column_and_grow_the_names() {
        let got = widths(View::Queues, &[26], 200);
        assert_eq!(got.len(), QUEUES.len());
        let total: u16 = got.iter().map(|(_, w)| w + 1).sum::<u16>() - 1;
        assert_eq!(total, 200);
    }

    #[test]
    fn narrow_terminals_drop_secondary_columns_before_narrowing_a_name() {
        // 80 columns: a border each side and the mark column leave 76.
        let got = widths(View::Queues, &[26], 76);
        let titles: Vec<_> = got.iter().map(|(t, _)| *t).collect();
        assert!(
            titles.contains(&"QUEUE") && titles.contains(&"READY"),
            "{got:?}"
        );
        assert!(
            !titles.contains(&"DEPTH") && !titles.contains(&"IN/s"),
            "{got:?}"
        );
        assert!(got.iter().any(|&(t, w)| t == "QUEUE" && w >= 26), "{got:?}");
        // 40 columns: the name and READY stay.
        let got = widths(View::Queues, &[26], 36);
        assert!(got.iter().any(|&(t, w)| t == "QUEUE" && w >= 26), "{got:?}");
        assert!(got.iter().any(|&(t, _)| t == "READY"), "{got:?}");
    }

    #[test]
    fn a_forty_column_pane_keeps_package_and_state() {
        let got = widths(View::Running, &[10, 1, 1, 1, 1, 1, 12], 36);
        let titles: Vec<_> = got.iter().map(|(t, _)| *t).collect();
        assert!(
            titles.contains(&"PACKAGE") && titles.contains(&"STATE"),
            "{got:?}"
        );
        let got = widths(View::Results, &[0, 10], 36);
        let titles: Vec<_> = got.iter().map(|(t, _)| *t).collect();
        assert!(
            titles.contains(&"PACKAGE") && titles.contains(&"RESULT"),
            "{got:?}"
        );
    }

    #[test]
    fn a_column_empty_on_screen_gives_its_room_to_the_others() {
        let mut content = vec![26; QUEUES.len()];
        let prio = QUEUES.iter().position(|c| c.id == ColId::Priority).unwrap();
        content[prio] = 0;
        let got = widths(View::Queues, &content, 200);
        assert!(got.iter().all(|&(t, _)| t != "PRIO"), "{got:?}");
    }

    #[test]
    fn names_alone_too_wide_are_narrowed_never_dropped() {
        let got = widths(View::Queues, &[60], 20);
        assert!(got.iter().any(|&(t, _)| t == "QUEUE"), "{got:?}");
        assert!(got.iter().all(|&(_, w)| w > 0));
    }

    #[test]
    fn sort_steps_through_columns_and_finds_them_by_name() {
        let s = Sort::default().step(View::Running, true);
        assert_eq!(s, Sort::by(ColId::Package, false));
        let s = s.step(View::Running, false);
        assert_eq!(s, Sort::by(ColId::Uuid, false));
        assert_eq!(find(View::Queues, "ready"), Some(ColId::Ready));
        assert_eq!(find(View::Queues, "name"), Some(ColId::Queue));
        assert_eq!(find(View::Results, "pack"), Some(ColId::Package));
        assert_eq!(find(View::Results, "nope"), None);
    }
}
