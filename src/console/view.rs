//! The views of the tab bar, and the per-view cursor.

use std::cell::Cell;

use super::keymap::Layer;

/// One `T` per view (its cursor, filter, marks), indexed by the view itself.
#[derive(Debug, Clone, Default)]
pub struct PerView<T>([T; View::ALL.len()]);

impl<T> std::ops::Index<View> for PerView<T> {
    type Output = T;
    fn index(&self, v: View) -> &T {
        // In bounds by construction: the array has one slot per variant of `View`.
        #[allow(clippy::indexing_slicing)]
        &self.0[v as usize]
    }
}

impl<T> std::ops::IndexMut<View> for PerView<T> {
    fn index_mut(&mut self, v: View) -> &mut T {
        #[allow(clippy::indexing_slicing)]
        &mut self.0[v as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Queues,
    Requests,
    Workers,
    Running,
    Results,
    Log,
    Audit,
    Rejected,
}

impl View {
    pub const ALL: [View; 8] = [
        View::Queues,
        View::Requests,
        View::Workers,
        View::Running,
        View::Results,
        View::Log,
        View::Audit,
        View::Rejected,
    ];

    /// The views that are tables (everything but the log).
    pub const TABLES: [View; 7] = [
        View::Queues,
        View::Requests,
        View::Workers,
        View::Running,
        View::Results,
        View::Audit,
        View::Rejected,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn title(self) -> &'static str {
        match self {
            View::Queues => "Queues",
            View::Requests => "Requests",
            View::Workers => "Workers",
            View::Running => "Running",
            View::Results => "Results",
            View::Log => "Log",
            View::Audit => "Audit",
            View::Rejected => "Rejected",
        }
    }

    pub fn layer(self) -> Layer {
        match self {
            View::Queues => Layer::Queues,
            View::Requests => Layer::Requests,
            View::Workers => Layer::Workers,
            View::Running => Layer::Running,
            View::Results => Layer::Results,
            View::Log => Layer::Log,
            View::Audit => Layer::Audit,
            View::Rejected => Layer::Rejected,
        }
    }

    pub fn step(self, forward: bool) -> Self {
        let n = Self::ALL.len();
        let i = self.index();
        let next = if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        };
        Self::ALL.get(next).copied().unwrap_or(self)
    }
}

/// The selected row of a view and the first row shown. The offset is kept by drawing (it
/// depends on the height), hence the `Cell`. `key` names the selected item, so that the
/// selection stays on it when rows are added or re-sorted above it (see `App::keep_selection`).
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    selected: usize,
    pub offset: Cell<usize>,
    key: Option<String>,
}

impl Cursor {
    /// The position of the selection among the rows shown.
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// Select the row at `pos`: the operator (or a jump) chose it, whatever was there before.
    pub fn select(&mut self, pos: usize) {
        self.selected = pos;
        self.key = None;
    }

    pub fn clamp(&mut self, len: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
    }

    pub fn move_by(&mut self, delta: isize, len: usize) {
        let s = self.selected.saturating_add_signed(delta);
        self.select(s.min(len.saturating_sub(1)));
    }

    /// The selected item's key, once pinned.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Remember which item is at the selection.
    pub fn pin(&mut self, key: Option<String>) {
        self.key = key;
    }

    /// The pinned item is now at `pos`.
    pub fn follow(&mut self, pos: usize) {
        self.selected = pos;
    }

    /// The first row to draw so that the selection is visible in `height` rows.
    pub fn window(&self, len: usize, height: usize) -> usize {
        let height = height.max(1);
        let sel = self.selected.min(len.saturating_sub(1));
        let mut off = self.offset.get().min(len.saturating_sub(height));
        if sel < off {
            off = sel;
        } else if sel >= off + height {
            off = sel + 1 - height;
        }
        self.offset.set(off);
        off
    }
}
